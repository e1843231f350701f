"""``run(cfg)``: train one model as configured and leave its reports in the run folder.

The recipe: check the settings, build the intensity provider (a ``carbon.*`` mistake is
refused before any data or model is built), the data, the carbon-aware plan, the model
and the Trainer, fit, measure inference on the validation images (``inference.*``: the
report's Consumer SCI), then write ``run_summary.json``. The builders live in
:mod:`sci_lightning.app.builders`. Returns the best ``val/acc`` (what a sweep optimises).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import lightning as L
import torch

from sci_lightning.app.builders import (
    TrainingParts,
    build_datamodule_for,
    build_trainer,
    build_training_parts,
    check_resume,
    comparable_settings,
    model_label,
    resolve_checkpoint_info,
    resolve_precision,
)
from sci_lightning.app.hardware import hardware_info
from sci_lightning.app.preflight import OUTPUTS_DIR, needs_intensity, preflight, run_folder
from sci_lightning.app.schedule import PAUSED_EXIT_CODE, SlotsStart, schedule_before_fit
from sci_lightning.energy.base import utcnow
from sci_lightning.fileio import STORAGE_ERRNOS, StorageError, atomic_write_json, storage_error
from sci_lightning.lightning.classifier import ImageClassifier, check_image_size, check_model_name
from sci_lightning.lightning.features import CACHE_FEATURES_NOTE
from sci_lightning.lightning.signal_guard import RunEnd, run_end
from sci_lightning.lightning.signals import (
    SignalInterrupt,
    begin_run,
    deferred_signal,
    enter_phase,
    hold_after_signal,
    install_process_signals,
    phase_reached,
)
from sci_lightning.settings import Config

if TYPE_CHECKING:
    from lightning.pytorch.callbacks import Callback
    from omegaconf import DictConfig

    from sci_lightning.carbon.base import IntensityProvider
    from sci_lightning.lightning.slot_schedule import PauseExit
    from sci_lightning.shifting.history import DurationEstimate

__all__ = ["resolve_precision", "run"]


def run(
    cfg: Config | DictConfig | Mapping[str, Any],
    *,
    clock: Callable[[], datetime] | None = None,
    sleep: Callable[[float], object] | None = None,
    callbacks: Iterable[Callback] = (),
) -> float | None:
    """Train one model as configured; return its best validation top-1 accuracy.

    ``cfg`` is a :class:`~sci_lightning.settings.Config`, a dict or Hydra's composed config.
    ``clock`` / ``sleep`` (default the system's) drive ``schedule=interrupt``'s slots and
    ``callbacks`` go first in the Trainer's (both for tests: a fake clock). A run paused at a
    slot's end (``schedule.pause=exit``) exits with status 75 (:data:`PAUSED_EXIT_CODE`).
    A SIGINT, SIGTERM or SIGUSR1 in any phase ends it with status 128 + signal and a
    ``run_summary.json`` naming the phase (:mod:`sci_lightning.lightning.signals`).
    """
    install_process_signals()
    begin_run()
    settings = preflight(cfg)  # values, credentials, schedule.pause=exit: the checks that need no torch
    check_model_name(settings.model.name)
    check_image_size(settings.model.name, settings.model.image_size)
    out_dir = run_folder(settings)
    started_at = utcnow()
    try:
        enter_phase("setup")  # the run folder is ours from here on: a signal leaves its summary there
        return _run_in(settings, out_dir, clock, sleep, callbacks)
    except SignalInterrupt as exc:  # before the fit: nothing trained, nothing measured yet
        hold_after_signal()
        _write_stopped_before_fit(out_dir, settings, exc, started_at)
        raise SystemExit(RunEnd("interrupted", exc.signal_name).exit_code) from None
    except OSError as exc:
        raise _in_user_words(exc, out_dir) from None


def _in_user_words(exc: OSError, out_dir: Path) -> BaseException:
    """A storage fault (full, read-only, ...) as one line; other OSErrors as they are."""
    if isinstance(exc, StorageError) or exc.errno not in STORAGE_ERRNOS:
        return exc
    where = exc.filename or out_dir
    in_cache = "cache" in str(where) or "synthetic" in str(where)
    fix = (
        "set data.cache_dir (or SCI_LIGHTNING_CACHE) to another folder"
        if in_cache
        else "set output_dir to another folder"
    )
    return storage_error(exc, where, fix=fix)


def _cache_error(exc: OSError, settings: Config) -> BaseException:
    """A storage fault while the dataset or its cache was built, naming the cache folder."""
    if isinstance(exc, StorageError) or exc.errno not in STORAGE_ERRNOS:
        return exc
    from sci_lightning.data.tiny_imagenet import resolve_cache_dir

    where = exc.filename or resolve_cache_dir(settings.data.cache_dir)
    return storage_error(
        exc,
        where,
        kept="nothing half-built is kept: the next run builds the cache again",
        fix="set data.cache_dir (or SCI_LIGHTNING_CACHE) to another folder",
    )


def _run_in(
    settings: Config,
    out_dir: Path,
    clock: Callable[[], datetime] | None,
    sleep: Callable[[float], object] | None,
    callbacks: Iterable[Callback],
) -> float | None:
    """:func:`run` once the run folder is this process's."""
    ckpt_path, ckpt_info = resolve_checkpoint_info(settings, out_dir)
    provider = _intensity_provider(settings)
    L.seed_everything(settings.seed, workers=True)
    enter_phase("data")
    try:
        datamodule = build_datamodule_for(settings)
    except OSError as exc:  # the dataset or its cache could not be written (full, read-only, ...)
        raise _cache_error(exc, settings) from None
    resume_changes = check_resume(ckpt_info, ckpt_path, settings, datamodule.num_classes)
    precision = resolve_precision(settings.trainer.precision, settings.trainer.accelerator)
    comparable = comparable_settings(settings, precision)
    start = schedule_before_fit(
        settings,
        provider,
        lambda: _expected_duration(settings, comparable),
        ckpt_path,
        plot_dir=out_dir,
        clock=clock,
        sleep=sleep,
    )
    outcome, slots = start.outcome, start.slots
    if slots is not None and slots.exit_before is not None:
        _exit_before_first_slot(settings, comparable, out_dir, slots.exit_before)
    model = ImageClassifier.from_settings(
        settings.model, datamodule.num_classes, channels_last=settings.trainer.channels_last
    )
    if settings.trainer.compile:
        model.model = cast(torch.nn.Module, torch.compile(model.model))  # a wrapped module
    fit_data = _fit_data(settings, datamodule)
    meta = _report_meta(settings, comparable, slots)
    if resume_changes:
        print(
            f"warning: resuming {ckpt_path} with changed settings ({'; '.join(resume_changes)}); "
            "recorded in the report",
            file=sys.stderr,
        )
        meta["settings"] = {**comparable, "changed_on_resume": resume_changes}
    parts = build_training_parts(
        settings, out_dir, provider, outcome, meta, slot_schedule=slots.schedule if slots else None
    )
    parts.callbacks[:0] = list(callbacks)
    trainer = build_trainer(settings, precision, parts, out_dir)
    if parts.energy is not None:
        parts.energy.report_meta["hardware"] = hardware_info(trainer)
    context = _FitContext(
        settings, trainer, model, datamodule, fit_data, parts, precision, comparable, out_dir, resume_changes
    )
    return _fit(context, ckpt_path, slots)


@dataclass
class _FitContext:
    """What the fit and its summary need (one argument instead of ten)."""

    settings: Config
    trainer: L.Trainer
    model: ImageClassifier
    datamodule: Any
    fit_data: Any
    parts: TrainingParts
    precision: str
    comparable: dict[str, Any]
    out_dir: Path
    resume_changes: list[str]

    def summary(self) -> dict[str, Any]:
        summary = _run_summary(
            self.settings,
            self.trainer,
            self.model,
            self.datamodule,
            self.fit_data,
            self.parts,
            self.precision,
            self.comparable,
        )
        if self.resume_changes:
            summary["changed_on_resume"] = list(self.resume_changes)
        return summary


def _fit(ctx: _FitContext, ckpt_path: str | None, slots: SlotsStart | None) -> float | None:
    """``trainer.fit``, then ``run_summary.json`` and the result line, however the fit ended."""
    trainer, parts, out_dir = ctx.trainer, ctx.parts, ctx.out_dir
    started_at = utcnow()
    if parts.findings is not None:
        parts.findings.started_at = started_at
    try:
        trainer.fit(ctx.model, datamodule=ctx.fit_data, ckpt_path=ckpt_path)
    except BaseException as exc:  # interrupted (Lightning exits or raises SIGTERMException) or failed
        end = parts.guard.end or run_end(exc)
        if trainer.is_global_zero:
            _write_preparation(out_dir, ctx.fit_data)
            summary = None
            try:
                summary = ctx.summary()
                _write_summary(out_dir, summary, started_at, end)
            except Exception as err:
                print(f"warning: run_summary.json not written ({type(err).__name__}: {err})", file=sys.stderr)
            _print_summary_line(out_dir, summary, parts, end.status, only_with_report=True)
        if end.status == "interrupted":
            raise SystemExit(end.exit_code) from None  # 128 + the signal's number
        if isinstance(exc, OSError):
            raise _in_user_words(exc, out_dir) from None
        raise
    paused = slots is not None and slots.schedule is not None and slots.schedule.paused is not None
    end = parts.guard.end or run_end(None)
    if paused:
        end = RunEnd("paused")  # at a slot's end; the printed lines say when and how to resume
    if trainer.is_global_zero:
        _write_preparation(out_dir, ctx.fit_data)
    if not paused and not trainer.interrupted and not deferred_signal():
        # a signal during it is deferred (phase reporting) and handled just below
        _measure_inference(ctx.settings, trainer, ctx.model, ctx.datamodule)
    if deferred_signal():  # arrived while the reports were written (or after the last batch)
        end = RunEnd("interrupted", deferred_signal())
        hold_after_signal()
    if trainer.is_global_zero:
        summary = ctx.summary()
        _write_summary(out_dir, summary, started_at, end)
        _print_summary_line(out_dir, summary, parts, end.status)
    if end.status == "interrupted":
        raise SystemExit(end.exit_code)
    if paused:
        raise SystemExit(PAUSED_EXIT_CODE)
    return ctx.model.best_val_acc


def _write_stopped_before_fit(
    out_dir: Path, settings: Config, exc: SignalInterrupt, started_at: datetime
) -> None:
    """``run_summary.json`` of a run stopped by a signal before its fit began (phase ``data``)."""
    summary = {
        "schema_version": 1,
        "model": settings.model.name,
        "model_label": model_label(settings),
        "experiment": settings.experiment_name,
        "steps": 0,
        "epochs": 0,
        "energy_kwh": None,
        "sci": None,
        "measured": "nothing: the energy meters start with the fit, which had not begun",
        "wall_s": round((utcnow() - started_at).total_seconds(), 3),
    }
    end = RunEnd("interrupted", exc.signal_name)
    try:
        _write_summary(out_dir, summary, started_at, end)
    except OSError as err:
        print(f"warning: run_summary.json not written ({err})", file=sys.stderr)
        return
    print(
        f"Interrupted by {exc.signal_name} during {phase_reached()}; nothing was measured yet. "
        f"Summary: {out_dir / 'run_summary.json'}",
        file=sys.stderr,
        flush=True,
    )


def _measure_inference(settings: Config, trainer: L.Trainer, model: ImageClassifier, datamodule: Any) -> None:
    """``inference.stage`` on the validation images with the final weights, measured by the
    EnergyCarbonCallback in its own window (the report's Consumer SCI); a fault only warns:
    the trained model and its reports are already written."""
    cfg = settings.inference
    if not cfg.enabled:
        return
    try:
        if cfg.stage == "test":
            trainer.test(model, datamodule=datamodule, verbose=False)
        else:
            trainer.predict(model, datamodule=datamodule, return_predictions=False)
    except Exception as err:
        print(
            f"warning: inference not measured ({type(err).__name__}: {err}); set inference.enabled=false "
            "to skip it",
            file=sys.stderr,
        )


def _write_preparation(out_dir: Path, fit_data: Any) -> None:
    """The run's data-preparation records (``preparation.json``: cache builds, SCI for AI 7.2); never fatal."""
    from sci_lightning.sci.preparation import write_preparation

    try:
        write_preparation(out_dir, fit_data.preparation)
    except OSError as err:
        print(f"warning: preparation.json not written ({err})", file=sys.stderr)


def _print_summary_line(
    out_dir: Path,
    summary: dict[str, Any] | None,
    parts: TrainingParts,
    status: str,
    only_with_report: bool = False,
) -> None:
    """The run's one-line result on stdout (:func:`sci_lightning.app.summary.summary_line`)."""
    from sci_lightning.app.summary import summary_line

    report = parts.energy.report if parts.energy is not None else None
    if report is None and only_with_report:
        return
    path = out_dir / ("sci_report.json" if report is not None else "run_summary.json")
    try:
        print(summary_line(summary, report, path, status=status), flush=True)
    except Exception as err:
        print(f"warning: no summary line ({type(err).__name__}: {err})", file=sys.stderr)


def _write_summary(out_dir: Path, summary: dict[str, Any], started_at: datetime, end: RunEnd) -> None:
    """``run_summary.json``, with how the fit ended (``status``, ``interruption``)."""
    interruption = (
        None if end.status in ("completed", "paused") else {"signal": end.signal, "error": end.error}
    )
    if interruption is not None and end.signal:
        interruption["phase"] = phase_reached()  # setup, data, sanity check, training, validation, reporting
        interruption["checkpoint"] = (
            _last_checkpoint(out_dir) if phase_reached() not in _BEFORE_TRAINING else None
        )
    summary.update(
        started_at=started_at.isoformat(),
        ended_at=utcnow().isoformat(),
        status=end.status,
        interruption=interruption,
    )
    atomic_write_json(out_dir / "run_summary.json", summary)


#: Phases in which nothing has trained yet (no checkpoint is written).
_BEFORE_TRAINING = ("setup", "data", "sanity check")


def _last_checkpoint(out_dir: Path) -> str | None:
    from sci_lightning.lightning.checkpointing import LAST_NAME

    path = out_dir / "checkpoints" / LAST_NAME
    return str(path) if path.is_file() else None


def _intensity_provider(settings: Config) -> IntensityProvider | None:
    """One provider for the schedule and the SCI step (``None`` when neither needs one)."""
    if not needs_intensity(settings):
        return None
    from sci_lightning.carbon import build_provider

    return build_provider(settings.carbon)  # its credentials were checked by preflight


def _exit_before_first_slot(
    settings: Config, comparable: dict[str, Any], out_dir: Path, paused: PauseExit
) -> None:
    """``schedule=interrupt`` with ``pause=exit`` and a later first slot: the summary says so, exit (75)."""
    summary = {
        "schema_version": 1,
        "model": settings.model.name,
        "experiment": settings.experiment_name,
        "steps": None,
        "next_start": paused.next_start.isoformat(),
        "sbatch_begin": paused.sbatch_begin,
        "ckpt_path": paused.ckpt_path,
        "settings": comparable,
    }
    _write_summary(out_dir, summary, utcnow(), RunEnd("paused"))
    raise SystemExit(PAUSED_EXIT_CODE)


def _expected_duration(settings: Config, comparable: dict[str, Any]) -> DurationEstimate | None:
    """``schedule.duration``, else the newest earlier report of the same job (``None``: unknown)."""
    from sci_lightning.shifting.history import resolve_duration

    return resolve_duration(
        settings.schedule.duration,
        model=settings.model.name,
        settings={f"settings.{k}": v for k, v in comparable.items()},
        outputs_dir=OUTPUTS_DIR,
    )


def _fit_data(settings: Config, datamodule: Any) -> Any:
    """The datamodule, or with ``model.cache_features`` its cached-features twin (the
    backbone then runs once, inside fit, see :mod:`sci_lightning.lightning.features`).
    Both measure their cache builds (data preparation) with the configured meters and PUE."""
    datamodule.preparation_energy, datamodule.preparation_pue = settings.energy, settings.energy.pue
    if not settings.model.cache_features:
        return datamodule
    from sci_lightning.lightning.features import CachedFeaturesDataModule

    features = CachedFeaturesDataModule(datamodule)
    features.preparation_energy, features.preparation_pue = settings.energy, settings.energy.pue
    return features


def _report_meta(
    settings: Config, comparable: dict[str, Any], slots: SlotsStart | None = None
) -> dict[str, Any]:
    """What the SCI report says about the run besides its figures."""
    meta: dict[str, Any] = {
        "model": settings.model.name,
        "model_label": model_label(settings),
        "hardware": hardware_info(),
        "settings": comparable,
    }
    if slots is not None and slots.schedule is None:  # planning failed: straight through, said why
        meta["slots"] = {
            "status": "not planned",
            "pause": settings.schedule.pause,
            "run": [],
            "pauses": [],
            "planned": [],
            "notes": list(slots.notes),
        }
    boundary = settings.sci.boundary  # None: the report's default statement
    if settings.model.cache_features:
        from sci_lightning.sci.report import DEFAULT_BOUNDARY

        boundary = f"{boundary or DEFAULT_BOUNDARY} {CACHE_FEATURES_NOTE}"
    if boundary:
        meta["boundary"] = boundary
    return meta


def _run_summary(
    settings: Config,
    trainer: L.Trainer,
    model: ImageClassifier,
    datamodule: Any,
    fit_data: Any,
    parts: TrainingParts,
    precision: str,
    comparable: dict[str, Any],
) -> dict[str, Any]:
    """The content of ``run_summary.json``."""
    total, trainable = model.num_parameters()
    energy = parts.energy
    report = energy.report if energy is not None else None
    summary: dict[str, Any] = {
        "schema_version": 1,
        "model": settings.model.name,
        "model_label": model_label(settings),
        "experiment": settings.experiment_name,
        "parameters": total,
        "trainable_parameters": trainable,
        "freeze_backbone": settings.model.frozen,
        "image_size": settings.model.image_size,
        "num_classes": datamodule.num_classes,
        "dataset": settings.data.name,
        "epochs": trainer.current_epoch,
        "steps": trainer.global_step,
        "images_seen": parts.stats.images,
        "batch_size": settings.data.batch_size,
        "fit_wall_s": round(parts.stats.fit_wall_s, 3),
        "best_val_acc": model.best_val_acc,
        "final_val_acc": model.last_val_acc,
        "final_val_acc_top5": model.last_val_acc_top5,
        "checkpoints": {
            "last": settings.save_checkpoint,
            "best_by": settings.checkpoint.monitor if settings.checkpoint.save_top_k else None,
        },
        "precision": precision,
        "hardware": hardware_info(trainer),
        "interrupted": bool(trainer.interrupted),
        "parts": len(energy.parts) if energy is not None and energy.parts else 1,
        "energy_kwh": energy.result.energy_kwh if energy is not None and energy.result else None,
        "sci": {"value": report.sci.value, "unit": report.sci.unit} if report is not None else None,
        "settings": comparable,
    }
    if fit_data is not datamodule:
        summary["notes"] = [CACHE_FEATURES_NOTE]
        extraction_s = fit_data.extraction_s
        summary["feature_extraction_s"] = round(extraction_s, 3) if extraction_s is not None else None
    return summary
