"""Hydra entry point: ``python -m sci_lightning model=inception experiment=quickstart``.

A setting that is wrong is reported as one clear line (exit status 2), before training,
in the same words whether Hydra refused it while composing the config (a misspelt key,
a wrong type) or :func:`sci_lightning.settings.coerce` did (a value out of range).
In a multirun sweep a failing job is recorded in its folder (``job_failed.json``) and the
sweep goes on, so that the comparison of the other jobs is still produced; the sweep then
exits with status 1.
"""

from __future__ import annotations

import os
import sys
import traceback

import hydra
from omegaconf import DictConfig

from sci_lightning.errors import SciLightningError
from sci_lightning.settings import explain_hydra_error, register_hydra_schemas

register_hydra_schemas()

_failed_jobs: list[str] = []


def _is_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    try:
        return HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:
        return False


def _record_failure(exc: BaseException) -> None:
    from pathlib import Path

    from hydra.core.hydra_config import HydraConfig

    from sci_lightning.fileio import atomic_write_json
    from sci_lightning.redaction import scrub

    hc = HydraConfig.get()
    out = Path(hc.runtime.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "overrides": list(hc.overrides.task),
        "error_type": type(exc).__name__,
        "error": str(exc),
        "traceback": "".join(traceback.format_exception(exc))[-4000:],
    }
    atomic_write_json(out / "job_failed.json", scrub(record)[0])
    _failed_jobs.append(" ".join(hc.overrides.task))


def _remove_refused_run_folder() -> None:
    """A run refused before training leaves no folder: remove Hydra's run folder when it holds
    nothing but ``.hydra/`` and empty logs (a folder with anything else is kept)."""
    import shutil
    from pathlib import Path

    from hydra.core.hydra_config import HydraConfig

    try:
        out = Path(HydraConfig.get().runtime.output_dir)
        entries = list(out.iterdir())
    except (ValueError, OSError):
        return
    if all(e.name == ".hydra" or (e.suffix == ".log" and e.is_file() and e.stat().st_size == 0) for e in entries):
        import logging

        logging.shutdown()  # Hydra's file handler holds the (empty) log open
        shutil.rmtree(out, ignore_errors=True)
        stop = Path.cwd().resolve()
        for parent in out.resolve().parents:  # the date folders this run made, up to the working folder
            if parent == stop or stop not in parent.parents:
                break
            try:
                parent.rmdir()  # only when empty
            except OSError:
                break


def _user_error(exc: BaseException) -> None:
    from sci_lightning.redaction import redact

    print(f"error: {redact(str(exc))}", file=sys.stderr)


@hydra.main(version_base="1.3", config_path="pkg://sci_lightning.conf", config_name="config")
def _app(cfg: DictConfig) -> float | None:
    from sci_lightning.app.noise import one_handler_per_message
    from sci_lightning.app.train import run

    one_handler_per_message()  # Hydra's root handler prints Lightning's INFO lines; Lightning's own would again

    try:
        return run(cfg)
    except SciLightningError as exc:
        _user_error(exc)
        if _is_multirun():
            _record_failure(exc)
            return None
        _remove_refused_run_folder()
        sys.exit(2)
    except Exception as exc:
        if _is_multirun():
            _record_failure(exc)
            traceback.print_exc()
            return None
        raise


def _is_hydra_refusal(exc: BaseException) -> bool:
    """A config Hydra could not compose (e.g. ``carbon=no_such``: no such option in a group)."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    return isinstance(exc, (HydraException, OmegaConfBaseException))


#: Words that mark an override's key as a secret (credentials come from the environment only).
SECRET_KEY_WORDS = ("password", "passwd", "token", "secret", "api_key", "apikey", "credential")


def refuse_secret_overrides(argv: list[str]) -> None:
    """Exit (status 2) on an override whose key names a secret, before Hydra writes it to
    ``.hydra/``; the value is never repeated."""
    for arg in argv:
        key = arg.split("=", 1)[0].lstrip("+~").lower() if "=" in arg else ""
        if any(word in key.replace("-", "_") for word in SECRET_KEY_WORDS):
            print(
                f"error: Invalid setting {key}: secrets are not settings (the value was not saved anywhere). "
                "Give credentials as environment variables instead, e.g. export WATTTIME_USERNAME and "
                "WATTTIME_PASSWORD, or ELECTRICITYMAPS_TOKEN, in the shell that runs the job.",
                file=sys.stderr,
            )
            sys.exit(2)


def _failed_sweep_jobs() -> list[str]:
    """Failed jobs of the sweep: from the job folders (every launcher), else this process's list."""
    from sci_lightning.app.hydra_callbacks import FAILED_JOBS

    return list(FAILED_JOBS) or list(_failed_jobs)


def main() -> None:
    from sci_lightning.app.help import skip_unused_group_listing
    from sci_lightning.app.noise import quiet_third_party

    refuse_secret_overrides(sys.argv[1:])
    quiet_third_party()  # Lightning's litlogger tip and similar, not our warnings
    skip_unused_group_listing(sys.argv[1:])  # --help: conf/hydra/help/sci_lightning.yaml
    # Let Hydra's composition errors reach us, so that a refused override is explained in
    # the settings module's words instead of Hydra's (see settings.explain_hydra_error).
    full_error = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        _app()
    except Exception as exc:
        if full_error == "1":
            raise
        explained = explain_hydra_error(exc)
        if explained is None and not _is_hydra_refusal(exc):
            raise
        _user_error(explained or exc)
        sys.exit(2)
    failed = _failed_sweep_jobs()
    if failed:
        print(f"error: {len(failed)} job(s) of the sweep failed: " + "; ".join(failed), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
