"""Small builders that turn checked settings (:class:`~sci_lightning.settings.Config`) into
ready objects for :func:`sci_lightning.app.train.run`: the run folder, the checkpoint to
resume, the datamodule, the Trainer and its callbacks and loggers.

Each builder reads the typed settings and nothing else; none of them trains.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
import timm
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import Logger, TensorBoardLogger

from sci_lightning.app.preflight import OUTPUTS_DIR, hydra_config
from sci_lightning.energy.base import utcnow
from sci_lightning.errors import ConfigError
from sci_lightning.settings import Config

if TYPE_CHECKING:
    from sci_lightning.carbon.base import IntensityProvider
    from sci_lightning.data.tiny_imagenet import TinyImageNetDataModule
    from sci_lightning.lightning.callback import EnergyCarbonCallback
    from sci_lightning.lightning.first_epoch_planner import FirstEpochPlanner
    from sci_lightning.lightning.run_stats import RunStats
    from sci_lightning.lightning.signal_guard import SignalGuard
    from sci_lightning.lightning.work_counter import WorkCounter
    from sci_lightning.shifting.schedule import ScheduleOutcome

__all__ = [
    "TrainingParts",
    "build_datamodule_for",
    "build_trainer",
    "build_training_parts",
    "check_resume",
    "comparable_settings",
    "model_label",
    "resolve_checkpoint_info",
    "resolve_precision",
]


def model_label(settings: Config) -> str:
    return settings.model.display_name or settings.model.name


def resolve_precision(precision: str, accelerator: str) -> str:
    """``auto-mixed``: bf16-mixed on GPUs that support bf16, 16-mixed on older GPUs, 32-true on CPU."""
    if precision != "auto-mixed":
        return precision
    on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    if not on_gpu or not torch.cuda.is_available():
        return "32-true"
    return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"


def resolve_checkpoint(settings: Config, out_dir: Path) -> str | None:
    """``ckpt_path``: a checkpoint file, or ``last``: this run folder's ``last.ckpt``, else the
    newest ``last.ckpt`` of the same model under ``outputs/`` (each Hydra run gets a new folder).
    Checked by :func:`check_checkpoint` (a corrupt file or another model's is refused)."""
    return resolve_checkpoint_info(settings, out_dir)[0]


def resolve_checkpoint_info(settings: Config, out_dir: Path) -> tuple[str | None, dict[str, Any]]:
    """:func:`resolve_checkpoint`, with what the checkpoint says about its run (:func:`check_checkpoint`).

    The checkpoint is then held (a lock beside it) until this process exits: a second
    resume of the same checkpoint at the same time is refused.
    """
    found = _find_checkpoint(settings, out_dir)
    if found is None:
        return None, {}
    info = check_checkpoint(found, settings)
    _hold_checkpoint(found)
    return found, info


def _hold_checkpoint(path: str) -> None:
    """Refuse a checkpoint another live process is resuming; a folder we cannot lock in is let be."""
    from sci_lightning.fileio import hold_lock

    try:
        holder = hold_lock(Path(path).with_name(f"{Path(path).name}.resume"))
    except OSError:  # a read-only checkpoint folder: nobody can lock it, nobody can write it either
        return
    if holder is not None:
        who = f"process {holder}" if holder else "another process"
        raise ConfigError(
            f"Invalid setting ckpt_path={path!r}: {who} is resuming this checkpoint now, and two resumes of one "
            "checkpoint would each claim the same job. Wait for that run to end, then resume from its last.ckpt "
            "(ckpt_path=last)."
        )


def _find_checkpoint(settings: Config, out_dir: Path) -> str | None:
    ckpt = settings.ckpt_path
    if not ckpt:
        return _requeued_checkpoint(out_dir)
    if ckpt != "last":
        if not Path(ckpt).is_file():
            raise ConfigError(
                f"Invalid setting ckpt_path={ckpt!r}: no such checkpoint file. Give the path of a .ckpt file "
                "(a run folder's checkpoints/last.ckpt), or ckpt_path=last for the newest one of this model."
            )
        return str(ckpt)
    own = out_dir / "checkpoints" / "last.ckpt"
    if own.is_file():
        return str(own)
    found = _last_checkpoints_of(settings.model.name)
    if not found:
        raise ConfigError(
            f"Invalid setting ckpt_path=last: no last.ckpt of {settings.model.name} in {own.parent} or under "
            f"{OUTPUTS_DIR.resolve()}. Give the checkpoint's path instead, e.g. "
            "ckpt_path=outputs/runs/<date>/<time>_<model>_p<pid>/checkpoints/last.ckpt."
        )
    return str(max(found)[1])


def _requeued_checkpoint(out_dir: Path) -> str | None:
    """A requeued SLURM job (``SLURM_RESTART_COUNT`` >= 1) resumes from its run folder's newest
    checkpoint: ``last.ckpt`` (written after the part's files, so it holds the whole part) or,
    if a later one exists, Lightning's ``hpc_ckpt_N.ckpt`` (saved when SIGUSR1 came). Passed to
    ``fit`` explicitly, so Lightning does not pick the older ``hpc_ckpt`` by itself."""
    from sci_lightning.lightning.distributed import slurm_job

    job = slurm_job()
    if job is None or job["restart_count"] < 1:
        return None
    found = [
        p for p in [out_dir / "checkpoints" / "last.ckpt", *out_dir.glob("hpc_ckpt_*.ckpt")] if p.is_file()
    ]
    if not found:
        return None
    newest = max(found, key=lambda p: p.stat().st_mtime)
    print(
        f"SLURM job {job['job_id']} run {job['restart_count'] + 1} (requeued): resuming from {newest}",
        flush=True,
    )
    return str(newest)


def check_checkpoint(path: str, settings: Config) -> dict[str, Any]:
    """Refuse, before training, a file that is not a readable checkpoint of ``model.name``.

    Returns what the checkpoint says about its run: ``hyper_parameters`` (the classifier's)
    and ``settings`` (:func:`resume_settings` of the run that wrote it, when it recorded them).
    """
    fix = (
        "Give a last.ckpt of the same model (a run folder's checkpoints/last.ckpt), or leave ckpt_path unset."
    )
    try:
        saved = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        reason = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:200]
        raise ConfigError(
            f"Invalid setting ckpt_path={path!r}: not a readable checkpoint ({reason}). {fix}"
        ) from None
    if not isinstance(saved, dict) or "state_dict" not in saved:
        raise ConfigError(
            f"Invalid setting ckpt_path={path!r}: not a Lightning checkpoint (no state_dict). {fix}"
        )
    hparams = saved.get("hyper_parameters") or {}
    model_name = hparams.get("model_name")
    if model_name is not None and model_name != settings.model.name:
        raise ConfigError(
            f"Invalid setting ckpt_path={path!r}: it is a checkpoint of {model_name}, this run trains "
            f"{settings.model.name}. Give a checkpoint of {settings.model.name}, or model.name={model_name}."
        )
    callbacks = saved.get("callbacks") or {}
    record = next((v for k, v in callbacks.items() if str(k).startswith("SettingsRecord")), None)
    return {"hyper_parameters": dict(hparams), "settings": dict((record or {}).get("settings") or {})}


#: Settings a resumed job may change; each change is recorded in the report (``changed_on_resume``).
RESUME_SETTINGS = (
    "data.name",
    "data.batch_size",
    "model.image_size",
    "model.lr",
    "model.optimizer",
    "trainer.precision",
    "trainer.accelerator",
    "energy.pue",
    "carbon.provider",
    "carbon.region",
    "sci.functional_unit",
)


def resume_settings(settings: Config) -> dict[str, Any]:
    """The settings a checkpoint records about its run (:data:`RESUME_SETTINGS`, flat dotted keys)."""
    out = {}
    for key in RESUME_SETTINGS:
        value: Any = settings
        for part in key.split("."):
            value = getattr(value, part, None)
        out[key] = value
    return out


def check_resume(info: dict[str, Any], path: str | None, settings: Config, num_classes: int) -> list[str]:
    """Refuse a resume that cannot work; return the settings it changes (``"data.batch_size: 2 -> 4"``).

    Raises:
        ConfigError: the checkpoint's classifier has another number of classes.
    """
    if not path:
        return []
    saved_classes = (info.get("hyper_parameters") or {}).get("num_classes")
    if saved_classes is not None and int(saved_classes) != int(num_classes):
        key = "data.synthetic_classes" if settings.data.name == "synthetic" else "data.max_classes"
        raise ConfigError(
            f"Invalid setting {key}: the checkpoint {path!r} classifies {saved_classes} classes and this run's data "
            f"has {num_classes}, so its weights cannot be loaded. Resume with the data it was trained on "
            f"({key} giving {saved_classes} classes), or train from scratch without ckpt_path."
        )
    before, now = info.get("settings") or {}, resume_settings(settings)
    return [
        f"{key}: {before[key]!r} -> {now[key]!r}"
        for key in RESUME_SETTINGS
        if key in before and before[key] != now[key]
    ]


def _last_checkpoints_of(model_name: str) -> list[tuple[float, Path]]:
    """``(mtime, path)`` of every ``last.ckpt`` under ``outputs/`` whose run trained ``model_name``."""
    from omegaconf import OmegaConf

    found = []
    paths = OUTPUTS_DIR.glob("**/checkpoints/last.ckpt") if OUTPUTS_DIR.is_dir() else []
    for path in paths:
        try:
            saved = OmegaConf.load(path.parent.parent / ".hydra" / "config.yaml")
            if OmegaConf.select(saved, "model.name") == model_name:
                found.append((path.stat().st_mtime, path))
        except (OSError, ValueError, TypeError):
            continue
    return found


def build_datamodule_for(settings: Config) -> TinyImageNetDataModule:
    """The datamodule, normalised with the model's own mean/std, checked before training."""
    from sci_lightning.data import build_datamodule

    pretrained = timm.get_pretrained_cfg(settings.model.name)
    mean = tuple(pretrained.mean) if pretrained is not None else (0.485, 0.456, 0.406)
    std = tuple(pretrained.std) if pretrained is not None else (0.229, 0.224, 0.225)
    datamodule = build_datamodule(settings.data, image_size=settings.model.image_size, mean=mean, std=std)
    datamodule.validate()  # a missing or malformed dataset stops here, before any training
    return datamodule


def comparable_settings(settings: Config, precision: str) -> dict[str, Any]:
    """The settings that make two runs comparable (stored in the report; used to find a
    previous run's duration for carbon-aware planning)."""
    return {
        "model": settings.model.name,
        "image_size": settings.model.image_size,
        "freeze_backbone": settings.model.frozen,
        "cache_features": settings.model.cache_features,
        "dataset": settings.data.name,
        "batch_size": settings.data.batch_size,
        "max_epochs": settings.trainer.max_epochs,
        "limit_train_batches": settings.trainer.limit_train_batches,
        "precision": precision,
        "accelerator": settings.trainer.accelerator,
    }


class CarbonAwareFindings:
    """What shifting the job would have saved, for the report (``carbon_aware`` callable).

    ``outcome`` is the plan made before training; when that plan was deferred until the
    first epoch was timed, ``first_epoch`` (a FirstEpochPlanner callback) holds it.
    """

    def __init__(self, outcome: ScheduleOutcome, first_epoch: FirstEpochPlanner | None = None) -> None:
        self.outcome = outcome
        self.first_epoch = first_epoch
        self.started_at = utcnow()

    def __call__(self, energy_kwh: float) -> dict[str, Any] | None:
        found = self.first_epoch.outcome if self.first_epoch is not None else self.outcome
        if found is None:
            return None
        return found.findings(energy_kwh, actual_start=self.started_at)


@dataclass
class TrainingParts:
    """The callbacks and loggers of one run, and the ones ``run`` reads back afterwards."""

    stats: RunStats
    guard: SignalGuard  # how the fit ended (``guard.end``)
    callbacks: list[Callback] = field(default_factory=list)
    loggers: list[Logger] = field(default_factory=list)
    run_name: str | None = None
    energy: EnergyCarbonCallback | None = None
    findings: CarbonAwareFindings | None = None


def build_training_parts(
    settings: Config,
    out_dir: Path,
    provider: IntensityProvider | None,
    outcome: ScheduleOutcome | None,
    report_meta: dict[str, Any],
    slot_schedule: Callback | None = None,
) -> TrainingParts:
    """Checkpointing, TensorBoard, run statistics, the energy/SCI callback, DDP clean-up.

    ``slot_schedule`` (``schedule=interrupt``, a SlotSchedule) goes just before the energy
    callback, so its ``slots`` block is final when the report is written."""
    from sci_lightning.lightning.checkpointing import SettingsRecord, checkpoint_callbacks
    from sci_lightning.lightning.distributed import ReleaseProcessGroup
    from sci_lightning.lightning.run_stats import RunStats
    from sci_lightning.lightning.signal_guard import SignalGuard
    from sci_lightning.lightning.work_counter import WorkCounter

    parts = TrainingParts(stats=RunStats(), guard=SignalGuard())
    parts.callbacks += [parts.guard, parts.stats]
    if settings.save_checkpoint:  # Lightning runs checkpoint callbacks after the others
        parts.callbacks.append(SettingsRecord(resume_settings(settings)))  # a resume compares them
        parts.callbacks += checkpoint_callbacks(settings.checkpoint, out_dir / "checkpoints")
    if settings.tensorboard:
        _add_tensorboard(parts, out_dir, explicit_dir=bool(settings.output_dir))
    if outcome is not None:
        assert provider is not None, "a schedule outcome comes from a provider (needs_intensity)"
        parts.findings = _carbon_aware_findings(settings, provider, outcome, parts)
    if slot_schedule is not None:
        parts.callbacks.append(slot_schedule)
    if settings.energy.enabled:
        work = WorkCounter()  # FLOPs/parameters, handed to the energy callback's SCI step
        parts.callbacks.append(work)
        parts.energy = _energy_callback(settings, out_dir, provider, parts, report_meta, work)
        parts.callbacks.append(parts.energy)
        if slot_schedule is None:  # the carbon so far, as lines
            # Not beside a slot schedule: its queries over the wall-clock window put a replayed
            # trace into the chain's cooldown, and the slots would then be priced by the fallback.
            from sci_lightning.lightning.running_series import RunningSciSeries

            parts.callbacks.append(RunningSciSeries(settings.sci, provider))
    if settings.prometheus.enabled:  # live gauges, read from the energy callback's monitor
        from sci_lightning.lightning.prometheus import PrometheusExporter

        parts.callbacks.append(
            PrometheusExporter(
                settings.prometheus,
                provider,
                settings.sci,
                labels=_prometheus_labels(settings, out_dir),
                energy=parts.energy,
            )
        )
    if settings.sci.budget_g is not None or settings.sci.budget_kwh is not None:
        from sci_lightning.lightning.carbon_budget import CarbonBudget  # after the energy callback

        parts.callbacks.append(CarbonBudget(settings.sci, provider, energy=parts.energy))
    # last, so every other callback's on_fit_end (incl. the energy all-gather) has run
    parts.callbacks.append(ReleaseProcessGroup())
    return parts


def _prometheus_labels(settings: Config, out_dir: Path) -> dict[str, str]:
    """The job's Pushgateway grouping key: its run folder, model and Hydra job number (host: the exporter's)."""
    hc = hydra_config()
    job_num = getattr(getattr(hc, "job", None), "num", None) if hc is not None else None
    return {"run": Path(out_dir).name, "model": model_label(settings), "job_num": str(job_num or 0)}


def _add_tensorboard(parts: TrainingParts, out_dir: Path, explicit_dir: bool) -> None:
    """TensorBoard logger; under Hydra the run is named by its overrides (``model=inception``)
    and a sweep's runs share the sweep folder, so TensorBoard shows them side by side.
    With an explicit ``output_dir`` everything, TensorBoard included, goes there."""
    from sci_lightning.lightning.tb_layout import CustomScalarsLayoutCallback, make_logger_from_hydra

    if hydra_config() is not None and not explicit_dir:
        logger = make_logger_from_hydra()
        parts.run_name = logger.name
    else:
        logger = TensorBoardLogger(
            save_dir=str(out_dir), name="tensorboard", version="", default_hp_metric=False
        )
    parts.loggers.append(logger)
    parts.callbacks.append(CustomScalarsLayoutCallback())


def _carbon_aware_findings(
    settings: Config, provider: IntensityProvider, outcome: ScheduleOutcome, parts: TrainingParts
) -> CarbonAwareFindings:
    first_epoch = None
    if outcome.reason == "deferred":
        assert outcome.started_at is not None  # a deferred outcome records when the job started
        from sci_lightning.lightning.first_epoch_planner import FirstEpochPlanner

        first_epoch = FirstEpochPlanner(settings.schedule, provider, outcome.started_at)
        parts.callbacks.append(first_epoch)
    return CarbonAwareFindings(outcome, first_epoch)


def _energy_callback(
    settings: Config,
    out_dir: Path,
    provider: IntensityProvider | None,
    parts: TrainingParts,
    report_meta: dict[str, Any],
    work: WorkCounter | None = None,
) -> EnergyCarbonCallback:
    from sci_lightning.lightning.callback import EnergyCarbonCallback

    meta = {"run_name": parts.run_name or report_meta.get("model_label"), **report_meta}
    return EnergyCarbonCallback(
        energy=settings.energy,
        carbon=provider,
        sci=settings.sci,
        output_dir=str(out_dir),
        report_meta=meta,
        carbon_aware=parts.findings,
        work_counter=work,
    )


def build_trainer(settings: Config, precision: str, parts: TrainingParts, out_dir: Path) -> L.Trainer:
    """``lightning.Trainer`` from ``trainer.*`` (every field passed under its own name)."""
    kwargs = settings.trainer.trainer_kwargs()
    progress = kwargs["enable_progress_bar"]
    if progress is None:
        progress = sys.stderr.isatty()
        if not progress:  # nohup, SLURM, CI: one plain line per epoch instead of the bar
            from sci_lightning.lightning.progress import ProgressLines

            parts.callbacks.append(ProgressLines(energy=parts.energy))
    kwargs.update(precision=precision, enable_progress_bar=progress, enable_model_summary=progress)
    kwargs.update(
        limit_predict_batches=settings.inference.limit_batches,  # inference.*: see train.py
        limit_test_batches=settings.inference.limit_batches,
    )
    from sci_lightning.lightning.checkpointing import AtomicCheckpointIO

    return L.Trainer(
        **kwargs,
        plugins=[AtomicCheckpointIO()],
        callbacks=parts.callbacks,
        logger=parts.loggers or False,
        default_root_dir=str(out_dir),
        enable_checkpointing=settings.save_checkpoint,
    )
