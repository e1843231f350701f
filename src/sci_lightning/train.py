"""``run(cfg)``: build the data, the model and the Trainer from a composed config, fit,
and write the run's summary. Returns the best ``val/acc`` (the metric a sweep optimises).
"""

from __future__ import annotations

import json
import os
import platform
import socket
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
import timm
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf

from sci_lightning.callback import EnergyCarbonCallback
from sci_lightning.classifier import ImageClassifier, check_image_size, check_model_name
from sci_lightning.config import resolve_freeze, validate
from sci_lightning.data import build_datamodule
from sci_lightning.distributed import ReleaseProcessGroup
from sci_lightning.energy.base import utcnow
from sci_lightning.errors import ConfigError
from sci_lightning.fileio import atomic_write_json
from sci_lightning.report import DEFAULT_BOUNDARY

__all__ = ["run", "resolve_precision", "RunStats", "write_json_atomic", "hardware_info", "CACHE_FEATURES_NOTE"]

#: Stated in the report (software boundary) and the run summary of a cache_features run.
CACHE_FEATURES_NOTE = (
    "Head-only training with model.cache_features=true: at the start of the job the frozen backbone computed "
    "the pooled features of every train and val image once (without augmentation), and every epoch then "
    "trained and validated the classifier head on those cached features instead of re-running the backbone. "
    "The extraction ran inside the measured window, so its energy is included; compare with runs without "
    "cache_features knowing that they repeat the backbone's forward pass each epoch."
)


def resolve_precision(precision: str, accelerator: str) -> str:
    """``auto-mixed``: bf16-mixed on GPUs that support bf16, 16-mixed on older GPUs, 32-true on CPU."""
    if precision != "auto-mixed":
        return precision
    on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    if not on_gpu or not torch.cuda.is_available():
        return "32-true"
    return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware_info(trainer: L.Trainer | None = None) -> dict[str, Any]:
    """What the job ran on: host, CPU, GPU(s), framework versions."""
    info: dict[str, Any] = {
        "host": socket.gethostname(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": L.__version__,
        "timm": timm.__version__,
    }
    if trainer is not None:
        info["accelerator"] = type(trainer.accelerator).__name__.replace("Accelerator", "").lower()
        info["devices"] = trainer.num_devices
        info["num_nodes"] = trainer.num_nodes
        info["world_size"] = trainer.world_size
        root = trainer.strategy.root_device
        info["device"] = str(root)
        if root.type == "cuda":
            info["gpu"] = torch.cuda.get_device_name(root)
            info["cuda"] = torch.version.cuda
    return info


class RunStats(Callback):
    """Counts optimizer steps and training images (all ranks) and times the fit; resumable."""

    def __init__(self) -> None:
        self.images = 0
        self.fit_wall_s = 0.0
        self._t0: float | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        try:
            self.images += int(batch[1].shape[0]) * trainer.world_size
        except (TypeError, IndexError, AttributeError):
            pass

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._t0 is not None:
            self.fit_wall_s += time.perf_counter() - self._t0
            self._t0 = None

    def state_dict(self) -> dict[str, Any]:
        elapsed = self.fit_wall_s + (time.perf_counter() - self._t0 if self._t0 is not None else 0.0)
        return {"images": self.images, "fit_wall_s": elapsed}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.images = int(state_dict.get("images", 0))
        self.fit_wall_s = float(state_dict.get("fit_wall_s", 0.0))


def _output_dir(cfg: DictConfig) -> Path:
    hydra_cfg = _hydra_config()
    if cfg.get("output_dir"):
        out = Path(cfg.output_dir)
    elif hydra_cfg is not None:
        out = Path(hydra_cfg.runtime.output_dir)
    else:  # not running under Hydra
        out = Path("outputs") / "runs" / utcnow().strftime("%Y-%m-%d/%H-%M-%S")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _resolve_ckpt_path(cfg: DictConfig, out_dir: Path) -> str | None:
    """``ckpt_path``: a checkpoint file, or ``last``: this run folder's ``last.ckpt``, else the
    newest ``last.ckpt`` of the same model under ``outputs/`` (each Hydra run gets a new folder)."""
    ckpt = cfg.ckpt_path
    if not ckpt:
        return None
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
    found = []
    root = Path("outputs")
    for path in root.glob("**/checkpoints/last.ckpt") if root.is_dir() else []:
        try:
            saved = OmegaConf.load(path.parent.parent / ".hydra" / "config.yaml")
            if OmegaConf.select(saved, "model.name") == cfg.model.name:
                found.append((path.stat().st_mtime, path))
        except (OSError, ValueError, TypeError):
            continue
    if not found:
        raise ConfigError(
            f"Invalid setting ckpt_path=last: no last.ckpt of {cfg.model.name} in {own.parent} or under "
            f"{root.resolve()}. Give the checkpoint's path instead, e.g. "
            "ckpt_path=outputs/runs/<date>/<time>_<model>/checkpoints/last.ckpt."
        )
    return str(max(found)[1])


def _model_label(cfg: DictConfig) -> str:
    return cfg.model.display_name or cfg.model.name


def _hydra_config() -> Any:
    try:
        from hydra.core.hydra_config import HydraConfig

        return HydraConfig.get()
    except ValueError:  # not running under Hydra (tests, notebooks)
        return None


def _make_logger(out_dir: Path, explicit_dir: bool) -> tuple[TensorBoardLogger, str | None]:
    """TensorBoard logger; under Hydra the run is named by its overrides (``model=inception``)
    and a sweep's runs share the sweep folder, so TensorBoard shows them side by side.
    With an explicit ``output_dir`` everything, TensorBoard included, goes there."""
    if _hydra_config() is not None and not explicit_dir:
        from sci_lightning.tb_layout import make_logger_from_hydra

        logger = make_logger_from_hydra()
        return logger, logger.name
    return TensorBoardLogger(save_dir=str(out_dir), name="tensorboard", version="", default_hp_metric=False), None


def _settings(cfg: DictConfig, precision: str) -> dict[str, Any]:
    """The settings that make two runs comparable (stored in the report; used to find a
    previous run's duration for carbon-aware planning)."""
    return {
        "model": cfg.model.name,
        "image_size": cfg.model.image_size,
        "freeze_backbone": resolve_freeze(cfg.model),
        "cache_features": bool(cfg.model.cache_features),
        "dataset": cfg.data.name,
        "batch_size": cfg.data.batch_size,
        "max_epochs": cfg.trainer.max_epochs,
        "limit_train_batches": cfg.trainer.limit_train_batches,
        "precision": precision,
        "accelerator": cfg.trainer.accelerator,
    }


class _FirstEpochPlanner(Callback):
    """With no expected duration known, plan once the first epoch has been timed (report only)."""

    def __init__(self, schedule_cfg: Any, provider: Any, started_at: Any) -> None:
        self.schedule_cfg, self.provider, self.started_at = schedule_cfg, provider, started_at
        self.outcome: Any = None
        self._t0: float | None = None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._t0 is None:
            self._t0 = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.outcome is not None or self._t0 is None or not trainer.is_global_zero:
            return
        from sci_lightning.carbon.plan import duration_from_first_epoch
        from sci_lightning.schedule import plan_after_first_epoch

        estimate = duration_from_first_epoch(time.perf_counter() - self._t0, trainer.max_epochs or 1)
        try:  # planning is a report; it must never stop training
            self.outcome = plan_after_first_epoch(
                self.schedule_cfg, self.provider, actual_start=self.started_at, duration=estimate
            )
        except Exception as err:  # noqa: BLE001
            import warnings

            warnings.warn(f"carbon-aware planning after the first epoch failed ({err}); no findings in the report")


def run(cfg: DictConfig) -> float | None:
    """Train one model as configured; return its best validation top-1 accuracy."""
    validate(cfg)
    check_model_name(cfg.model.name)
    check_image_size(cfg.model.name, cfg.model.image_size)
    out_dir = _output_dir(cfg)
    ckpt_path = _resolve_ckpt_path(cfg, out_dir)
    # One intensity provider for the schedule and the SCI step; a mistake in carbon.* is
    # refused here, before any data or model is built.
    provider = None
    if cfg.energy.enabled or cfg.schedule.mode != "none":
        from sci_lightning.carbon import build_provider

        provider = build_provider(cfg.carbon)
    L.seed_everything(cfg.seed, workers=True)

    pcfg = timm.get_pretrained_cfg(cfg.model.name)
    mean = tuple(pcfg.mean) if pcfg is not None else (0.485, 0.456, 0.406)
    std = tuple(pcfg.std) if pcfg is not None else (0.229, 0.224, 0.225)
    datamodule = build_datamodule(cfg.data, image_size=cfg.model.image_size, mean=mean, std=std)
    datamodule.validate()  # a missing or malformed dataset stops here, before any training

    freeze = resolve_freeze(cfg.model)
    tcfg = cfg.trainer
    precision = resolve_precision(tcfg.precision, tcfg.accelerator)
    settings = _settings(cfg, precision)

    # Carbon-aware schedule: plan (and maybe wait) before anything heavy is built.
    outcome = None
    if cfg.schedule.mode != "none":
        from sci_lightning.carbon.plan import resolve_duration
        from sci_lightning.schedule import before_training

        duration = resolve_duration(
            cfg.schedule.duration,
            model=cfg.model.name,
            settings={f"settings.{k}": v for k, v in settings.items()},
            outputs_dir=Path("outputs"),
        )
        outcome = before_training(cfg.schedule, provider, duration=duration)
    model = ImageClassifier(
        model_name=cfg.model.name,
        num_classes=datamodule.num_classes,
        image_size=cfg.model.image_size,
        weights=cfg.model.weights,
        freeze_backbone=freeze,
        drop_rate=cfg.model.drop_rate,
        optimizer=cfg.model.optimizer,
        lr=cfg.model.lr,
        weight_decay=cfg.model.weight_decay,
        momentum=cfg.model.momentum,
        scheduler=cfg.model.scheduler,
        warmup_epochs=cfg.model.warmup_epochs,
        label_smoothing=cfg.model.label_smoothing,
        channels_last=tcfg.channels_last,
    )
    if tcfg.compile:
        model.model = torch.compile(model.model)
    fit_data: Any = datamodule
    if cfg.model.cache_features:  # the backbone runs once, inside fit (see CachedFeaturesDataModule)
        from sci_lightning.features import CachedFeaturesDataModule

        fit_data = CachedFeaturesDataModule(datamodule)

    stats = RunStats()
    callbacks: list[Callback] = [stats]
    if cfg.save_checkpoint:
        callbacks.append(ModelCheckpoint(dirpath=out_dir / "checkpoints", save_last=True, save_top_k=0))
    loggers: list[Any] = []
    run_name = None
    if cfg.tensorboard:
        from sci_lightning.tb_layout import CustomScalarsLayoutCallback

        logger, run_name = _make_logger(out_dir, explicit_dir=bool(cfg.get("output_dir")))
        loggers.append(logger)
        callbacks.append(CustomScalarsLayoutCallback())

    first_epoch_planner = None
    if outcome is not None and outcome.reason == "deferred":
        first_epoch_planner = _FirstEpochPlanner(cfg.schedule, provider, outcome.started_at)
        callbacks.append(first_epoch_planner)

    def carbon_aware(energy_kwh: float) -> dict[str, Any] | None:
        found = first_epoch_planner.outcome if first_epoch_planner is not None else outcome
        if found is None:
            return None
        return found.findings(energy_kwh, actual_start=started_at)

    energy_cb = None
    boundary = cfg.sci.get("boundary") or None  # None: the report's default statement
    if cfg.model.cache_features:
        boundary = f"{boundary or DEFAULT_BOUNDARY} {CACHE_FEATURES_NOTE}"
    if cfg.energy.enabled:
        energy_cb = EnergyCarbonCallback(
            energy=cfg.energy,
            carbon=provider,
            sci=cfg.sci,
            output_dir=str(out_dir),
            report_meta={
                "model": cfg.model.name,
                "model_label": _model_label(cfg),
                "run_name": run_name or _model_label(cfg),
                "hardware": hardware_info(),
                "settings": settings,
                **({"boundary": boundary} if boundary else {}),
            },
            carbon_aware=carbon_aware,
        )
        callbacks.append(energy_cb)
    # last, so every other callback's on_fit_end (incl. the energy all-gather) has run
    callbacks.append(ReleaseProcessGroup())
    progress = tcfg.enable_progress_bar if tcfg.enable_progress_bar is not None else sys.stderr.isatty()
    trainer = L.Trainer(
        accelerator=tcfg.accelerator,
        devices=tcfg.devices,
        num_nodes=tcfg.num_nodes,
        strategy=tcfg.strategy,
        precision=precision,
        max_epochs=tcfg.max_epochs,
        limit_train_batches=tcfg.limit_train_batches,
        limit_val_batches=tcfg.limit_val_batches,
        val_check_interval=tcfg.val_check_interval,
        log_every_n_steps=tcfg.log_every_n_steps,
        enable_progress_bar=progress,
        enable_model_summary=progress,
        deterministic=tcfg.deterministic,
        benchmark=tcfg.cudnn_benchmark,
        gradient_clip_val=tcfg.gradient_clip_val,
        accumulate_grad_batches=tcfg.accumulate_grad_batches,
        fast_dev_run=tcfg.fast_dev_run,
        num_sanity_val_steps=tcfg.num_sanity_val_steps,
        callbacks=callbacks,
        logger=loggers or False,
        default_root_dir=str(out_dir),
        enable_checkpointing=bool(cfg.save_checkpoint),
    )

    if energy_cb is not None:
        energy_cb.report_meta["hardware"] = hardware_info(trainer)
    started_at = utcnow()
    trainer.fit(model, datamodule=fit_data, ckpt_path=ckpt_path)
    ended_at = utcnow()

    if trainer.is_global_zero:
        total, trainable = model.num_parameters()
        summary = {
            "schema_version": 1,
            "model": cfg.model.name,
            "model_label": _model_label(cfg),
            "experiment": cfg.experiment_name,
            "parameters": total,
            "trainable_parameters": trainable,
            "freeze_backbone": freeze,
            "image_size": cfg.model.image_size,
            "num_classes": datamodule.num_classes,
            "dataset": cfg.data.name,
            "epochs": trainer.current_epoch,
            "steps": trainer.global_step,
            "images_seen": stats.images,
            "batch_size": cfg.data.batch_size,
            "fit_wall_s": round(stats.fit_wall_s, 3),
            "best_val_acc": model.best_val_acc,
            "final_val_acc": model.last_val_acc,
            "final_val_acc_top5": model.last_val_acc_top5,
            "precision": precision,
            "hardware": hardware_info(trainer),
            "started_at": started_at.isoformat(),
            "ended_at": ended_at.isoformat(),
            "interrupted": bool(trainer.interrupted),
            "energy_kwh": energy_cb.result.energy_kwh if energy_cb is not None and energy_cb.result else None,
            "sci": (energy_cb.report or {}).get("sci") if energy_cb is not None else None,
            "settings": settings,
        }
        if fit_data is not datamodule:
            summary["notes"] = [CACHE_FEATURES_NOTE]
            summary["feature_extraction_s"] = (
                round(fit_data.extraction_s, 3) if fit_data.extraction_s is not None else None
            )
        atomic_write_json(out_dir / "run_summary.json", summary)
    return model.best_val_acc
