"""What the Trainer says about the work, read the way :mod:`sci_lightning.accounting` defines it.

- :func:`batch_size`: samples in a batch, found as Lightning finds them (``extract_batch_size``)
  or by a user's ``batch_size_fn``.
- :func:`batches_per_epoch`: the training batches of one epoch (``None`` for iterable data).
- :func:`training_done`: whether the fit has run its last training batch (a checkpoint
  written then belongs to a part that completed its training).
- :func:`log_step`: the step Lightning logs its own training metrics at.
- :func:`tuner_method`: ``lr_find`` / ``scale_batch_size`` when a tuner drives this fit.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lightning.pytorch.utilities.data import extract_batch_size

if TYPE_CHECKING:
    from lightning.pytorch import Trainer

__all__ = ["batch_size", "batches_per_epoch", "is_last_batch", "log_step", "training_done", "tuner_method"]


def batch_size(batch: object, batch_size_fn: Callable[[Any], int] | None = None) -> int | None:
    """Samples in ``batch``: ``batch_size_fn(batch)`` if given, else Lightning's
    ``extract_batch_size`` (first dimension of the first tensor found in tensors, sequences,
    mappings and dataclasses); ``None`` when no size can be found."""
    if batch_size_fn is not None:
        return int(batch_size_fn(batch))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Lightning warns itself about ambiguous batches when it logs
            # Lightning walks any object (dataclasses too, and raises for what it cannot size),
            # though its annotation names only tensors, strings, mappings and iterables
            return int(extract_batch_size(batch))  # pyright: ignore[reportArgumentType]
    except Exception:
        return None


def batches_per_epoch(trainer: Trainer) -> float | None:
    """Training batches in one epoch (``limit_train_batches`` applied); ``None`` when unknown."""
    n = getattr(trainer, "num_training_batches", None)
    if n is None or n == float("inf") or n <= 0:
        return None
    return n


def _epoch_loop(trainer: Trainer) -> Any:
    return getattr(getattr(trainer, "fit_loop", None), "epoch_loop", None)


def is_last_batch(trainer: Trainer) -> bool:
    """Whether the training batch just run is its epoch's last (Lightning's own flag; iterable data too)."""
    return bool(getattr(getattr(_epoch_loop(trainer), "batch_progress", None), "is_last_batch", False))


def training_done(trainer: Trainer) -> bool:
    """Whether no training batch follows: stop requested (EarlyStopping, Timer for ``max_time``),
    ``max_steps`` reached, or the last batch of the last epoch done."""
    if getattr(trainer, "should_stop", False):
        return True
    max_steps = getattr(trainer, "max_steps", -1)
    if max_steps is not None and max_steps >= 0 and trainer.global_step >= max_steps:
        return True
    last_batch = is_last_batch(trainer)
    max_epochs = getattr(trainer, "max_epochs", None)
    return (
        last_batch and max_epochs is not None and max_epochs >= 0 and trainer.current_epoch + 1 >= max_epochs
    )


def log_step(trainer: Trainer) -> int:
    """The step Lightning logs its training metrics at (``_batches_that_stepped``: batches that
    ended with an optimizer step, before the current one); ``global_step`` outside a fit loop."""
    value = getattr(_epoch_loop(trainer), "_batches_that_stepped", None)
    return int(value) if isinstance(value, int) else int(getattr(trainer, "global_step", 0))


def tuner_method(trainer: Trainer) -> str | None:
    """``scale_batch_size`` / ``lr_find`` when a tuner callback runs in this fit, else ``None``."""
    from lightning.pytorch.callbacks import BatchSizeFinder, LearningRateFinder

    for cb in getattr(trainer, "callbacks", []):
        if isinstance(cb, BatchSizeFinder):
            return "scale_batch_size"
        if isinstance(cb, LearningRateFinder):
            return "lr_find"
    return None
