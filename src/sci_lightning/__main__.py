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
from pathlib import Path

# From here to the exit, SIGINT/SIGTERM/SIGUSR1 end the run with 128 + signal (never ignored),
# before Hydra, torch and Lightning are even imported; not for help, which runs nothing (and so
# does not import the sci_lightning.lightning package, with jsonargparse).
if __name__ == "__main__" and not {"--help", "-h", "--hydra-help"}.intersection(sys.argv[1:]):
    from sci_lightning.lightning.signals import install_process_signals

    install_process_signals()

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
    """A run refused before training leaves no folder: remove Hydra's run folder, and a run folder
    this process made (``output_dir``), when it holds nothing but ``.hydra/``, empty logs and this
    process's own run lock (a folder with anything else, or another process's lock, is kept)."""
    from pathlib import Path

    from hydra.core.hydra_config import HydraConfig

    from sci_lightning.app.preflight import made_run_folders

    folders = made_run_folders()
    try:
        folders.append(Path(HydraConfig.get().runtime.output_dir))
    except ValueError:
        pass
    for out in dict.fromkeys(folders):
        _remove_if_unused(out)


def _remove_if_unused(out: Path) -> None:
    """Remove the run folder ``out`` (and the date folders above it, up to the working folder) when
    it holds nothing but ``.hydra/``, empty logs and this process's own run lock."""
    import shutil

    from sci_lightning.app.preflight import RUN_LOCK_TARGET
    from sci_lightning.fileio import holds_lock, lock_path

    try:
        entries = list(out.iterdir())
    except OSError:
        return
    own_lock = lock_path(out / RUN_LOCK_TARGET) if holds_lock(out / RUN_LOCK_TARGET) else None

    def removable(entry: Path) -> bool:
        return (
            entry.name == ".hydra"
            or entry == own_lock
            or (entry.suffix == ".log" and entry.is_file() and entry.stat().st_size == 0)
        )

    if all(removable(e) for e in entries):
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
    """``error: <message>`` on one line of stderr (a message of several lines is joined)."""
    from sci_lightning.redaction import redact

    print(f"error: {' '.join(redact(str(exc)).split())}", file=sys.stderr)


def _override_error(exc: BaseException) -> str | None:
    """Hydra's override lexer/parser refusal (``model.optimizer=日本``) as one line, else ``None``."""
    from hydra.errors import OverrideParseException

    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, OverrideParseException):
        cause = cause.__cause__ or cause.__context__
    if cause is None:
        return None
    override = (
        str(getattr(cause, "override", "") or "").strip() or str(cause).splitlines()[0].split(": ", 1)[-1]
    )
    return (
        f"Invalid override {override}: Hydra's override grammar cannot read it (characters other than letters, "
        "digits and _-./ need quotes). Quote the value, e.g. 'key=\"value\"', or give a plain ASCII value."
    )


def _interrupted(exc: BaseException) -> int:
    """One line for a signal that ended the process outside a run's fit; the exit status 128 + signal."""
    import signal

    from sci_lightning.lightning.signals import phase_reached

    name = getattr(exc, "signal_name", "SIGINT")
    print(
        f"Interrupted by {name} during {phase_reached()}; no training had started, nothing was measured.",
        file=sys.stderr,
        flush=True,
    )
    return 128 + int(getattr(signal, name))


@hydra.main(version_base="1.3", config_path="pkg://sci_lightning.conf", config_name="config")
def _app(cfg: DictConfig) -> float | None:
    from sci_lightning.app.noise import one_handler_per_message
    from sci_lightning.app.preflight import preflight, run_folder

    try:
        # a value that cannot work, and a run folder that cannot be written or is another run's,
        # are refused before torch is imported (run() repeats both: the same folder, already ours)
        run_folder(preflight(cfg))
        from sci_lightning.app.train import run

        # after Lightning's import, which adds its console handler: Hydra's root handler prints
        # Lightning's INFO lines, Lightning's own would print them again
        one_handler_per_message()
        return run(cfg)
    except SciLightningError as exc:
        _user_error(exc)
        if _is_multirun():
            _record_failure(exc)
            return None
        _remove_refused_run_folder()
        sys.exit(getattr(exc, "exit_code", 2))
    except Exception as exc:
        if _is_multirun():
            _record_failure(exc)
            traceback.print_exc()
            return None
        raise


def _refusal_status(exc: Exception) -> int:
    """Print why the app stopped before or outside a run, in one line; the exit status (2, 1 for storage)."""
    from sci_lightning.fileio import STORAGE_ERRNOS, storage_error

    override = _override_error(exc)
    if override is not None:
        print(f"error: {override}", file=sys.stderr)
        return 2
    if isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:  # e.g. Hydra writing .hydra/ to a bad folder
        _user_error(storage_error(exc, fix="set hydra.run.dir (or output_dir) to another folder"))
        return 2
    explained = explain_hydra_error(exc)
    if explained is None and not _is_hydra_refusal(exc):
        raise exc
    _user_error(explained or exc)
    return 2


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
    if not {"--help", "-h", "--hydra-help"}.intersection(sys.argv[1:]):  # as at the top
        from sci_lightning.lightning.signals import install_process_signals

        install_process_signals()
    try:
        _main(sys.argv[1:])
    except KeyboardInterrupt as exc:  # a signal before (or between) the runs' own handling
        from sci_lightning.lightning.signals import hold_after_signal

        hold_after_signal()
        sys.exit(_interrupted(exc))


def claim_explicit_run_dir(argv: list[str]) -> None:
    """``hydra.run.dir=<folder>`` given literally: own it before Hydra writes ``.hydra/`` there.

    A folder another live run holds, or one holding a finished run that this one does not
    resume (``ckpt_path``), is refused in one line (exit 2); see
    :func:`sci_lightning.app.preflight.claim_run_folder`.
    """
    if any(a in ("-m", "--multirun") for a in argv):
        return
    given = [a.split("=", 1)[1] for a in argv if a.startswith("hydra.run.dir=")]
    if not given or "${" in given[-1]:
        return
    from pathlib import Path

    from sci_lightning.app.preflight import claim_run_folder, resumes_run

    ckpt = [a.split("=", 1)[1].strip("'\"") for a in argv if a.startswith("ckpt_path=")]
    try:
        folder = Path(given[-1].strip("'\""))
        claim_run_folder(folder, "hydra.run.dir", resuming=resumes_run(ckpt[-1] if ckpt else None))
    except SciLightningError as exc:
        _user_error(exc)
        sys.exit(2)


def _main(argv: list[str]) -> None:
    from sci_lightning.app.help import skip_unused_group_listing
    from sci_lightning.app.noise import quiet_third_party

    refuse_secret_overrides(argv)
    quiet_third_party()  # Lightning's litlogger tip and similar, not our warnings
    skip_unused_group_listing(argv)  # --help: conf/hydra/help/sci_lightning.yaml
    claim_explicit_run_dir(argv)
    # Let Hydra's composition errors reach us, so that a refused override is explained in
    # the settings module's words instead of Hydra's (see settings.explain_hydra_error).
    full_error = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        _app()
    except Exception as exc:
        if full_error == "1":
            raise
        sys.exit(_refusal_status(exc))
    failed = _failed_sweep_jobs()
    if failed:
        print(f"error: {len(failed)} job(s) of the sweep failed: " + "; ".join(failed), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
