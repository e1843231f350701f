"""Checks of a run's settings that need no torch, run before torch and Lightning are imported.

A misspelt key is refused by Hydra while it composes the config, in about a second. A value
that cannot work should be refused as fast: :func:`preflight` types the settings
(:func:`sci_lightning.settings.coerce`: ranges, choices, seeds, limits), checks the image size of
the shipped models against :data:`MIN_IMAGE_PX`, the ``schedule.pause=exit`` settings and the
carbon provider's credentials (environment variables) before the app imports torch (about 10 s
on a loaded CPU). Other timm models are checked by probing the network
(:func:`sci_lightning.lightning.classifier.check_image_size`) once torch is imported.

The run folder is claimed here too (:func:`run_folder`): a folder that cannot be written, or that
another live run holds, is refused before torch as well.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sci_lightning.errors import ConfigError
from sci_lightning.settings import Config, coerce

if TYPE_CHECKING:
    from hydra.conf import HydraConf
    from omegaconf import DictConfig

__all__ = [
    "MIN_IMAGE_PX",
    "OUTPUTS_DIR",
    "RUN_LOCK_TARGET",
    "RUN_RECORDS",
    "claim_run_folder",
    "hydra_config",
    "image_size_error",
    "made_run_folders",
    "needs_intensity",
    "preflight",
    "resumes_run",
    "run_folder",
]

#: The lock that makes one process the owner of a run folder (``<run folder>/.run.lock``); here so
#: that the entry point removes a refused run's folder without importing the run's builders.
RUN_LOCK_TARGET = "run"

#: The files a run leaves in its folder (its summary, reports, failure record): a folder holding
#: one of them is an earlier run's, and only a resume of that run may write there again.
RUN_RECORDS = ("run_summary.json", "sci_report.json", "energy.json", "job_failed.json")

#: Where runs go without ``output_dir`` or Hydra (and where ``ckpt_path=last`` looks).
OUTPUTS_DIR = Path("outputs")

#: The run folders :func:`claim_run_folder` made in this process (the entry point removes a refused
#: run's folder when it holds nothing but its lock).
_MADE: list[Path] = []

#: The smallest square input (px) each shipped model (``conf/model/*.yaml``) accepts, found by
#: :func:`sci_lightning.lightning.classifier.smallest_image_size` (a test recomputes each).
MIN_IMAGE_PX: dict[str, int] = {
    "inception_v3": 75,
    "densenet121": 29,
    "densenet169": 29,
}


def image_size_error(model_name: str, image_size: int, minimum: int | None) -> ConfigError:
    """The refusal of ``model.image_size`` too small for ``model_name`` (``minimum``: its smallest size)."""
    need = f"at least {minimum} px" if minimum else "a larger size"
    return ConfigError(
        f"Invalid setting model.image_size={image_size}: {model_name} needs {need} "
        f"(its stride and pooling shrink smaller inputs to nothing). Set model.image_size={minimum or 224} or more."
    )


def needs_intensity(settings: Config) -> bool:
    """Whether the run reads carbon intensity (for its SCI report or its schedule)."""
    return settings.energy.enabled or settings.schedule.mode != "none"


def preflight(cfg: Config | DictConfig | Mapping[str, Any]) -> Config:
    """The typed settings of ``cfg``; raises :class:`ConfigError` for a value that cannot work.

    In order: the values (:func:`~sci_lightning.settings.coerce`), a shipped model's smallest image
    size, ``schedule.pause=exit``'s needs, the carbon provider's credentials when intensity is read.
    """
    from sci_lightning.app.schedule import check_interrupt_settings

    settings = coerce(Config, cfg)
    minimum = MIN_IMAGE_PX.get(settings.model.name)
    if minimum is not None and settings.model.image_size < minimum:
        raise image_size_error(settings.model.name, settings.model.image_size, minimum)
    check_interrupt_settings(settings)
    if needs_intensity(settings):
        from sci_lightning.carbon import require_credentials

        require_credentials(settings.carbon)
    return settings


def hydra_config() -> HydraConf | None:
    """Hydra's runtime config, or ``None`` outside a Hydra app (tests, notebooks)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return HydraConfig.get()
    except (ImportError, ValueError):
        return None


def run_folder(settings: Config) -> Path:
    """``output_dir``, else Hydra's run folder, else ``outputs/runs/<date>/<time>_p<pid>``.

    The folder is made, then owned by this process for the rest of its life (:func:`claim_run_folder`);
    the temporaries of writes killed in it earlier are removed. Under Hydra (or with ``output_dir``)
    the folder is the same on every call, and a second call claims nothing new.
    """
    from sci_lightning.energy.base import utcnow

    hc = hydra_config()
    if settings.output_dir:
        out, key = Path(settings.output_dir), "output_dir"
    elif hc is not None:
        out, key = Path(hc.runtime.output_dir), "hydra.run.dir"
    else:
        out, key = OUTPUTS_DIR / "runs" / f"{utcnow():%Y-%m-%d/%H-%M-%S}_p{os.getpid()}", "output_dir"
    claim_run_folder(out, key, resuming=resumes_run(settings.ckpt_path))
    return out


def resumes_run(ckpt_path: str | None, environ: Mapping[str, str] | None = None) -> bool:
    """Whether a run with this ``ckpt_path`` resumes an earlier one: a checkpoint given, or a
    requeued SLURM job (``SLURM_RESTART_COUNT`` >= 1; it resumes from its own folder's newest
    checkpoint, as :func:`sci_lightning.lightning.distributed.slurm_job` reads it). Read from the
    environment here, without torch."""
    if ckpt_path and ckpt_path not in ("null", "None"):
        return True
    env = os.environ if environ is None else environ
    try:
        restarts = int(env.get("SLURM_RESTART_COUNT") or 0)
    except ValueError:
        restarts = 0
    return bool(env.get("SLURM_JOB_ID")) and restarts >= 1


def claim_run_folder(out: Path, key: str = "output_dir", *, resuming: bool = False) -> None:
    """Make ``out`` and take its lock (flock) before anything is written there.

    A folder that holds an earlier run's records (:data:`RUN_RECORDS`) is taken only by a run
    that resumes (``resuming``): a new run there would overwrite that run's reports.

    Raises:
        ConfigError: another live run holds the folder, it holds a finished run and this one
            does not resume, or it cannot be written (read-only, no permission, name too long),
            each in one line with the fix.
    """
    from sci_lightning.fileio import STORAGE_ERRNOS, hold_lock, storage_error, sweep_stale_temporaries

    try:
        made = not out.exists()
        out.mkdir(parents=True, exist_ok=True)
        holder = hold_lock(out / RUN_LOCK_TARGET)
    except OSError as exc:
        reason = (
            str(storage_error(exc, out, fix=f"set {key} to another folder"))
            if exc.errno in STORAGE_ERRNOS
            else f"cannot make the folder ({exc.strerror or exc}). Set {key} to a folder you can write."
        )
        raise ConfigError(f"Invalid setting {key}={str(out)!r}: {reason}") from None
    if holder is not None:
        who = f"process {holder}" if holder else "another process"
        raise ConfigError(
            f"Invalid setting {key}={str(out)!r}: {who} is running in this folder, and two runs in one folder "
            f"overwrite each other's reports. Give this run its own folder ({key}=<another folder>), or leave "
            f"{key} unset: the default folder is unique to each process."
        )
    if not resuming:
        _refuse_finished_run(out, key)
    if made:
        _MADE.append(out)
    for folder in (out, out / "checkpoints"):
        sweep_stale_temporaries(folder)  # this process owns the folder: any temporary is a dead write's


def _refuse_finished_run(out: Path, key: str) -> None:
    """Refuse ``out`` when it holds an earlier run's records (a new run would overwrite them)."""
    found = [name for name in RUN_RECORDS if (out / name).is_file()]
    if not found:
        return
    import json

    try:
        status = json.loads((out / "run_summary.json").read_text(encoding="utf-8")).get("status")
    except (OSError, ValueError, AttributeError):
        status = None
    what = f"{found[0]}, status {status}" if status else found[0]
    resume = (
        ", or resume that run there with ckpt_path=last"
        if (out / "checkpoints" / "last.ckpt").is_file()
        else ""
    )
    raise ConfigError(
        f"Invalid setting {key}={str(out)!r}: the folder holds a finished run ({what}), and a new run there "
        f"would overwrite its reports. Choose another folder ({key}=<another folder>, or leave {key} unset)"
        f"{resume}."
    )


def made_run_folders() -> list[Path]:
    """The run folders this process made by claiming them (oldest first)."""
    return list(_MADE)
