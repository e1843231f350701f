"""RunningSciSeries: the carbon story as lines, for TensorBoard's defaults.

A fit-end total is one number; TensorBoard draws a single point as nothing (or as a dot
its default "Ignore outliers" hides). So the fit-end totals go to the HParams table and the
Text summary (see :func:`sci_lightning.lightning.publish.publish`), and this callback logs,
on rank 0, at the per-step rate of ``energy/so_far_wh`` (the first batch, every
``log_every_n_steps`` batches) and after every training epoch, the figures so far as series
that end at the totals:

- ``sci/so_far/intensity_g_per_kwh``: the grid's mean intensity over the fit so far;
- ``sci/so_far/operational_mg``: energy so far x that intensity (operational emissions so far);
- ``sci/so_far/sci_mg``: operational emissions so far per functional unit done so far
  (``job``: 1; ``epoch``: epochs done, the current one's share of its batches included; other
  units are known only at the end: not logged);
- ``sci/projected/sci_mg``: the operational SCI projected for the whole fit
  (:meth:`~sci_lightning.lightning.carbon_budget.CarbonBudget.project`: energy per step so far
  x the steps planned; the forecast intensity for the rest where the provider has one);
- the HParams metrics ``results/*`` (:data:`~sci_lightning.metric_names.RESULT_NAMES`) so far:
  val accuracy (from the first validation on), energy (Wh), operational emissions (mg), SCI
  (g, operational so far), cost (time so far x price per hour), time (s). The fit-end point of
  each (:func:`~sci_lightning.lightning.publish.run_results`, written after this one) is the
  report's figure, embodied emissions included.

Every value is computed from what the :class:`~sci_lightning.lightning.callback.EnergyCarbonCallback`
measured so far and the intensity the provider gives for that time; nothing is invented
between points. The provider is asked at most once every ``intensity_refresh_s`` seconds
(default 60; grid data come in 5- to 60-minute intervals), so a point between two asks uses
the last answer. Place it after the EnergyCarbonCallback. A provider fault leaves the carbon
series out for that point (warned once); training goes on.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_warn
from typing_extensions import override

from sci_lightning.lightning.carbon_budget import CarbonBudget, running_energy_callback
from sci_lightning.lightning.publish import publish
from sci_lightning.lightning.trainer_counts import batches_per_epoch, is_last_batch, log_step
from sci_lightning.metric_names import (
    PROJECTED_SCI_MG,
    RESULT_NAMES,
    SO_FAR_INTENSITY_G_PER_KWH,
    SO_FAR_OPERATIONAL_MG,
    SO_FAR_SCI_MG,
)
from sci_lightning.settings import SciConfig, coerce
from sci_lightning.warn_once import WarnOnce

if TYPE_CHECKING:
    from lightning.pytorch import LightningModule, Trainer
    from lightning.pytorch.utilities.types import STEP_OUTPUT

    from sci_lightning.carbon.base import IntensityProvider
    from sci_lightning.lightning.callback import EnergyCarbonCallback

__all__ = ["RunningSciSeries"]


class _Projector(CarbonBudget):
    """CarbonBudget's projection without a budget to check (its hooks are not run), asking the
    provider for intensities at most once every ``refresh_s`` seconds."""

    def __init__(
        self, settings: dict[str, Any], provider: IntensityProvider | None, refresh_s: float
    ) -> None:
        super().__init__({**settings, "budget_kwh": 1e300}, provider)
        self.refresh_s = refresh_s
        self._asked: tuple[float, tuple[float | None, float | None, str]] | None = None

    def start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.on_train_start(trainer, pl_module)
        self._asked = None

    @override
    def _intensities(
        self, energy: EnergyCarbonCallback, now: datetime, remaining_s: float
    ) -> tuple[float | None, float | None, str]:
        t = time.monotonic()
        if self._asked is None or t - self._asked[0] >= self.refresh_s:
            self._asked = (t, super()._intensities(energy, now, remaining_s))
        return self._asked[1]


class RunningSciSeries(Callback):
    """Log the energy, emissions and SCI so far (and the projected SCI) at the per-step rate.

    Args:
        sci: SCI settings (the functional unit, the price per hour).
        provider: the intensity provider; default the energy callback's.
        log_every_n_steps: a point every this many training batches (and after the first batch
            and every epoch); default the energy callback's rate (the Trainer's
            ``log_every_n_steps`` unless set there); 0: only after epochs.
        intensity_refresh_s: ask the provider at most this often (seconds).
    """

    def __init__(
        self,
        sci: SciConfig | dict[str, Any] | None = None,
        provider: IntensityProvider | None = None,
        log_every_n_steps: int | None = None,
        intensity_refresh_s: float = 60.0,
    ) -> None:
        super().__init__()
        self.sci = coerce(SciConfig, sci, "sci")
        self.log_every_n_steps = log_every_n_steps
        settings = {k: getattr(self.sci, k) for k in ("functional_unit", "price_per_hour_usd")}
        self._projector = _Projector(settings, provider, intensity_refresh_s)
        self._t0: float | None = None
        self._batches = 0
        self._once = WarnOnce()

    @override
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._projector.start(trainer, pl_module)
        self._t0, self._batches = time.monotonic(), 0

    @override
    def on_train_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: STEP_OUTPUT,
        batch: object,
        batch_idx: int,
    ) -> None:
        """A point on the first batch and every ``log_every_n_steps`` (the epoch's last: at its end)."""
        self._batches += 1
        n = self._every_n(trainer)
        due = n > 0 and (self._batches == 1 or self._batches % n == 0)
        if due and not is_last_batch(trainer):
            per_epoch = batches_per_epoch(trainer)
            share = min(1.0, (batch_idx + 1) / per_epoch) if per_epoch else 0.0
            self._log(trainer, epochs_done=trainer.current_epoch + share)

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """A point after the epoch (its validation accuracy included)."""
        self._log(trainer, epochs_done=float(trainer.current_epoch + 1))

    def _every_n(self, trainer: Trainer) -> int:
        """Batches between points: the setting, else the energy callback's (its points share their
        steps with ``energy/so_far_wh``), else the Trainer's."""
        if self.log_every_n_steps is not None:
            return self.log_every_n_steps
        energy = running_energy_callback(trainer)
        n = getattr(energy, "log_every_n_steps", None)
        return int(n) if n is not None else int(getattr(trainer, "log_every_n_steps", 50))

    def _log(self, trainer: Trainer, epochs_done: float) -> None:
        energy = running_energy_callback(trainer)
        if energy is None or not trainer.is_global_zero or trainer.sanity_checking:
            return
        try:
            metrics = self.so_far(trainer, energy, epochs_done)
        except Exception as err:
            if self._once.first():
                rank_zero_warn(
                    f"RunningSciSeries: no running series at this point ({type(err).__name__}: {err})"
                )
            return
        publish(trainer, metrics, step=log_step(trainer))

    def so_far(
        self, trainer: Trainer, energy: EnergyCarbonCallback, epochs_done: float | None = None
    ) -> dict[str, float | None]:
        """The series' values now (``None``: not known, left out); ``epochs_done`` default: the
        epochs finished."""
        p = self._projector.project(trainer, energy)
        elapsed_s = time.monotonic() - (self._t0 or time.monotonic())
        val_acc = trainer.callback_metrics.get("val/acc")
        metrics: dict[str, float | None] = {
            RESULT_NAMES["energy_wh"]: p.energy_so_far_kwh * 1000.0,
            RESULT_NAMES["fit_time_s"]: elapsed_s,
            RESULT_NAMES["cost_usd"]: elapsed_s / 3600.0 * self.sci.price_per_hour_usd,
            RESULT_NAMES["val_acc"]: float(val_acc) if val_acc is not None else None,
        }
        if p.intensity_so_far_g_per_kwh is None:
            return metrics
        operational_g = p.energy_so_far_kwh * p.intensity_so_far_g_per_kwh
        metrics[SO_FAR_INTENSITY_G_PER_KWH] = p.intensity_so_far_g_per_kwh
        metrics[SO_FAR_OPERATIONAL_MG] = operational_g * 1000.0
        metrics[RESULT_NAMES["emissions_mg"]] = operational_g * 1000.0
        r_done, r_planned = self._units(trainer, epochs_done)
        if r_done:
            metrics[SO_FAR_SCI_MG] = operational_g / r_done * 1000.0
            metrics[RESULT_NAMES["sci"]] = operational_g / r_done
        if r_planned and p.projected_g is not None:
            metrics[PROJECTED_SCI_MG] = p.projected_g / r_planned * 1000.0
        return metrics

    def _units(self, trainer: Trainer, epochs_done: float | None) -> tuple[float | None, float | None]:
        """(functional units done so far, planned for the fit); ``None`` where known only at the end."""
        unit = self.sci.functional_unit
        if unit == "job":
            return 1.0, 1.0
        if unit == "epoch":
            planned = float(trainer.max_epochs) if trainer.max_epochs and trainer.max_epochs > 0 else None
            return (float(trainer.current_epoch + 1) if epochs_done is None else epochs_done), planned
        return None, None
