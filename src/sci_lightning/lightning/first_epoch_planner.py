"""FirstEpochPlanner: plan the carbon-aware start once the first epoch has been timed.

Used by ``schedule=report`` when no duration is configured and no previous run of the
same settings is found: the job's duration is then estimated from its first epoch, and
the plan (what starting at the best time would have saved) goes into the report.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import lightning as L
from lightning.pytorch.callbacks import Callback
from typing_extensions import override

if TYPE_CHECKING:
    from sci_lightning.carbon.base import IntensityProvider
    from sci_lightning.settings import ScheduleConfig
    from sci_lightning.shifting.schedule import ScheduleOutcome

__all__ = ["FirstEpochPlanner"]


class FirstEpochPlanner(Callback):
    """Times the first training epoch, then plans once (rank 0); never stops training.

    Args:
        schedule: the ``schedule`` settings.
        provider: the intensity provider whose forecast is planned on.
        started_at: when the job started (aware UTC).
    """

    def __init__(
        self,
        schedule: ScheduleConfig,
        provider: IntensityProvider | Callable[[], IntensityProvider] | None,
        started_at: datetime,
    ) -> None:
        self.schedule, self.provider, self.started_at = schedule, provider, started_at
        #: The plan's outcome after the first epoch (``None`` before, or if planning failed).
        self.outcome: ScheduleOutcome | None = None
        self._t0: float | None = None

    @override
    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._t0 is None:
            self._t0 = time.perf_counter()

    @override
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.outcome is not None or self._t0 is None or not trainer.is_global_zero:
            return
        from sci_lightning.shifting.history import duration_from_first_epoch
        from sci_lightning.shifting.schedule import plan_after_first_epoch

        estimate = duration_from_first_epoch(time.perf_counter() - self._t0, trainer.max_epochs or 1)
        try:
            self.outcome = plan_after_first_epoch(
                self.schedule, self.provider, actual_start=self.started_at, duration=estimate
            )
        except Exception as err:
            warnings.warn(
                f"carbon-aware planning after the first epoch failed ({err}); no findings in the report",
                stacklevel=2,
            )
