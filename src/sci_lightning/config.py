"""Structured-config schemas (Hydra ConfigStore) for ``python -m sci_lightning``.

The whole composed config is typed by :class:`Config`: a misspelt key or a value of the
wrong type is rejected by Hydra/OmegaConf before anything is built, with the field
named. Each config group (``conf/model/``, ``conf/data/``, ...) fills one field of it.
:func:`validate` adds the checks that types alone cannot express (ranges, choices).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore

from sci_lightning.carbon.config import CarbonConfig
from sci_lightning.data.config import DataConfig
from sci_lightning.energy.config import EnergyConfig
from sci_lightning.errors import ConfigError
from sci_lightning.sci_config import CompareConfig, ScheduleConfig, SciConfig


@dataclass
class ModelConfig:
    """A timm image classifier and how it is trained."""

    name: str = "inception_v3"  # any timm model name (timm.list_models())
    display_name: str | None = None  # label in reports; default: the config choice, e.g. "inception"
    image_size: int = 299  # square input size in pixels
    weights: str | None = None  # local pretrained weights (.pth/.bin/.safetensors); hubs may be unreachable
    # train only the classifier head (the case study's setup); null: frozen exactly when
    # `weights` is given (pretrained backbone), trained end to end otherwise
    freeze_backbone: bool | None = False
    # with a frozen backbone and data.augment=false: compute its features once (inside the
    # measured window), train the head on them every epoch (sci_lightning.features)
    cache_features: bool = False
    drop_rate: float = 0.0
    optimizer: str = "adamw"  # adamw | adam | sgd
    lr: float = 1e-3
    weight_decay: float = 0.05
    momentum: float = 0.9  # sgd only
    scheduler: str = "cosine"  # cosine | step | none
    warmup_epochs: int = 0
    label_smoothing: float = 0.0


@dataclass
class TrainerConfig:
    """The subset of ``lightning.Trainer`` arguments this app sets, plus GPU speed options."""

    accelerator: str = "auto"  # auto | cpu | gpu | cuda | mps
    devices: Any = "auto"  # int, list of ints, or "auto"
    num_nodes: int = 1
    strategy: str = "auto"  # auto | ddp | ddp_spawn | ...
    # "32-true", "16-mixed", "bf16-mixed", ... or "auto-mixed": bf16-mixed where the GPU
    # supports it, 16-mixed on other GPUs (a T4 has no bf16), 32-true on CPU.
    precision: str = "32-true"
    max_epochs: int = 10
    limit_train_batches: Any = None  # int (batches) or float (fraction); None: all
    limit_val_batches: Any = None
    val_check_interval: Any = None
    log_every_n_steps: int = 50
    enable_progress_bar: bool | None = None  # None: on when the terminal is interactive
    deterministic: bool = False
    cudnn_benchmark: bool | None = None
    gradient_clip_val: float | None = None
    accumulate_grad_batches: int = 1
    channels_last: bool = False
    compile: bool = False  # torch.compile the network
    fast_dev_run: bool = False
    num_sanity_val_steps: int = 2


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    energy: EnergyConfig = field(default_factory=EnergyConfig)
    carbon: CarbonConfig = field(default_factory=CarbonConfig)
    sci: SciConfig = field(default_factory=SciConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)
    experiment_name: str = "default"
    seed: int = 42
    output_dir: str | None = None  # None: Hydra's run folder
    ckpt_path: str | None = None  # resume from this checkpoint ("last" for the run folder's last.ckpt)
    save_checkpoint: bool = True
    tensorboard: bool = True


def register_configs() -> None:
    """Register the schema so that ``conf/config.yaml`` can extend it (``- base_config``)."""
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=Config)


_OPTIMIZERS = ("adamw", "adam", "sgd")
_SCHEDULERS = ("cosine", "step", "none")
_PRECISIONS = ("32-true", "32", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true", "auto-mixed")


def resolve_freeze(model_cfg: Any) -> bool:
    """``model.freeze_backbone`` with ``null`` meaning "frozen when pretrained weights are given"."""
    if model_cfg.freeze_backbone is None:
        return bool(model_cfg.weights)
    return bool(model_cfg.freeze_backbone)


def _check(cond: bool, setting: str, message: str) -> None:
    if not cond:
        raise ConfigError(f"Invalid setting {setting}: {message}")


def validate(cfg: Any) -> None:
    """Checks that types cannot express. Raises ConfigError naming the setting and the fix."""
    m, t, d = cfg.model, cfg.trainer, cfg.data
    _check(m.image_size >= 16, "model.image_size", f"{m.image_size} is too small; use at least 16 (inception_v3 needs >= 75).")
    _check(m.optimizer in _OPTIMIZERS, "model.optimizer", f"{m.optimizer!r} is not one of {_OPTIMIZERS}.")
    _check(m.scheduler in _SCHEDULERS, "model.scheduler", f"{m.scheduler!r} is not one of {_SCHEDULERS}.")
    _check(m.lr > 0, "model.lr", f"must be > 0, got {m.lr}.")
    _check(m.weight_decay >= 0, "model.weight_decay", f"must be >= 0, got {m.weight_decay}.")
    _check(0 <= m.drop_rate < 1, "model.drop_rate", f"must be in [0, 1), got {m.drop_rate}.")
    _check(0 <= m.label_smoothing < 1, "model.label_smoothing", f"must be in [0, 1), got {m.label_smoothing}.")
    _check(m.warmup_epochs >= 0, "model.warmup_epochs", f"must be >= 0, got {m.warmup_epochs}.")
    _check(
        not m.cache_features or resolve_freeze(m),
        "model.cache_features",
        "caching features needs a frozen backbone; also set model.freeze_backbone=true.",
    )
    _check(
        not (m.cache_features and d.augment),
        "data.augment",
        "model.cache_features=true computes each image's features once, without augmentation, so augmented "
        "training cannot reuse them; set data.augment=false (or model.cache_features=false to keep augmentation).",
    )
    _check(t.max_epochs >= 1, "trainer.max_epochs", f"must be >= 1, got {t.max_epochs}.")
    _check(t.num_nodes >= 1, "trainer.num_nodes", f"must be >= 1, got {t.num_nodes}.")
    _check(t.precision in _PRECISIONS, "trainer.precision", f"{t.precision!r} is not one of {_PRECISIONS}.")
    _check(t.log_every_n_steps >= 1, "trainer.log_every_n_steps", f"must be >= 1, got {t.log_every_n_steps}.")
    _check(t.accumulate_grad_batches >= 1, "trainer.accumulate_grad_batches", "must be >= 1.")
    for key in ("limit_train_batches", "limit_val_batches"):
        v = getattr(t, key)
        _check(
            v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0),
            f"trainer.{key}",
            f"must be a number of batches (int), a fraction (float) or null, got {v!r}.",
        )
    _check(d.batch_size >= 1, "data.batch_size", f"must be >= 1, got {d.batch_size}.")
    _check(d.num_workers >= 0, "data.num_workers", f"must be >= 0, got {d.num_workers}.")
