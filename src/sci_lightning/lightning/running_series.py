"""RunningSciSeries: the carbon story as lines, one point per training epoch, for TensorBoard's defaults.

A fit-end total is one number; TensorBoard draws a single point as nothing (or as a dot
its default "Ignore outliers" hides). So the fit-end totals go to the HParams table and the
Text summary (see :func:`sci_lightning.lightning.publish.publish`), and this callback logs,
on rank 0 after every training epoch, the figures so far as series that end at the totals:

- ``sci/so_far/intensity_g_per_kwh``: the grid's mean intensity over the fit so far;
- ``sci/so_far/operational_mg``: energy so far x that intensity (operational emissions so far);
- ``sci/so_far/sci_mg``: operational emissions so far per functional unit done so far
  (``job``: 1; ``epoch``: epochs done; other units are known only at the end: not logged);
- ``sci/projected/sci_mg``: the operational SCI projected for the whole fit
  (:meth:`~sci_lightning.lightning.carbon_budget.CarbonBudget.project`: energy per step so far
  x the steps planned; the forecast intensity for the rest where the provider has one);
- the HParams metrics ``results/*`` (:data:`~sci_lightning.metric_names.RESULT_NAMES`) so far:
  val accuracy, energy (Wh), operational emissions (mg), SCI (g, operational so far), cost
  (time so far x price per hour), time (s). The fit-end point of each
  (:func:`~sci_lightning.lightning.publish.run_results`, written after this one) is the
  report's figure, embodied emissions included.

Every value is computed from what the :class:`~sci_lightning.lightning.callback.EnergyCarbonCallback`
measured so far and the intensity the provider gives for that time; nothing is invented
between points. Place it after the EnergyCarbonCallback. A provider fault leaves the carbon
series out for that epoch (warned once); training goes on.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.rank_zero import rank_zero_warn
from typing_extensions import override

from sci_lightning.lightning.carbon_budget import CarbonBudget, running_energy_callback
from sci_lightning.lightning.publish import publish
from sci_lightning.metric_names import (
    PROJECTED_SCI_MG,
    RESULT_NAMES,
    SO_FAR_INTENSITY_G_PER_KWH,
    SO_FAR_OPERATIONAL_MG,
    SO_FAR_SCI_MG,
)
from sci_lightning.settings import SciConfig, coerce

if TYPE_CHECKING:
    from lightning.pytorch import LightningModule, Trainer

__all__ = ["RunningSciSeries"]


class RunningSciSeries(Callback):
    """Log the energy, emissions and SCI so far (and the projected SCI) after every training epoch.

    Args:
        sci: SCI settings (the functional unit, the price per hour).
        provider: the intensity provider; default the energy callback's.
    """

    def __init__(self, sci: SciConfig | dict[str, Any] | None = None, provider: Any = None) -> None:
        super().__init__()
        self.sci = coerce(SciConfig, sci, "sci")
        # CarbonBudget's projection, without a budget to check (its hooks are not run)
        settings = {k: getattr(self.sci, k) for k in ("functional_unit", "price_per_hour_usd")}
        self._projector = CarbonBudget({**settings, "budget_kwh": 1e300}, provider)
        self._t0: float | None = None
        self._warned = False

    @override
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._projector.on_train_start(trainer, pl_module)
        self._t0 = time.monotonic()

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        energy = running_energy_callback(trainer)
        if energy is None or not trainer.is_global_zero or trainer.sanity_checking:
            return
        try:
            metrics = self.so_far(trainer, energy)
        except Exception as err:
            if not self._warned:
                self._warned = True
                rank_zero_warn(
                    f"RunningSciSeries: no running series this epoch ({type(err).__name__}: {err})"
                )
            return
        publish(trainer, metrics)

    def so_far(self, trainer: Trainer, energy: Any) -> dict[str, float | None]:
        """The series' values now (``None``: not known, left out)."""
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
        r_done, r_planned = self._units(trainer)
        if r_done:
            metrics[SO_FAR_SCI_MG] = operational_g / r_done * 1000.0
            metrics[RESULT_NAMES["sci"]] = operational_g / r_done
        if r_planned and p.projected_g is not None:
            metrics[PROJECTED_SCI_MG] = p.projected_g / r_planned * 1000.0
        return metrics

    def _units(self, trainer: Trainer) -> tuple[float | None, float | None]:
        """(functional units done so far, planned for the fit); ``None`` where known only at the end."""
        unit = self.sci.functional_unit
        if unit == "job":
            return 1.0, 1.0
        if unit == "epoch":
            planned = float(trainer.max_epochs) if trainer.max_epochs and trainer.max_epochs > 0 else None
            return float(trainer.current_epoch + 1), planned
        return None, None
