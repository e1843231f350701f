"""RunStats: counts the training images of a fit (all ranks) and times it; resumable.

The wall time stops when the fit ends or is interrupted, before the last checkpoint of
the part is written (:mod:`.checkpointing`), so a resumed job's ``fit_wall_s`` is the sum
of its parts'.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.types import STEP_OUTPUT
from typing_extensions import override

__all__ = ["RunStats"]


class RunStats(Callback):
    """Counts training images (batch size x world size per step) and the fit's wall time.

    Both survive a resume: they are saved in the checkpoint and added to on the next part.
    """

    def __init__(self) -> None:
        self.images = 0
        self.fit_wall_s = 0.0
        self._t0: float | None = None

    @override
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._t0 = time.perf_counter()

    @override
    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: STEP_OUTPUT,
        batch: Sequence[torch.Tensor],
        batch_idx: int,
    ) -> None:
        try:
            self.images += int(batch[1].shape[0]) * trainer.world_size
        except (TypeError, IndexError, KeyError, AttributeError):
            pass

    @override
    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._stop_clock()

    @override
    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        self._stop_clock()

    def _stop_clock(self) -> None:
        if self._t0 is not None:
            self.fit_wall_s += time.perf_counter() - self._t0
            self._t0 = None

    @override
    def state_dict(self) -> dict[str, Any]:
        elapsed = self.fit_wall_s + (time.perf_counter() - self._t0 if self._t0 is not None else 0.0)
        return {"images": self.images, "fit_wall_s": elapsed}

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.images = int(state_dict.get("images", 0))
        self.fit_wall_s = float(state_dict.get("fit_wall_s", 0.0))
