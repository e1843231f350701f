"""CarbonBudget: project the job's total energy and emissions after every training epoch,
warn once when the projection exceeds ``sci.budget_g`` / ``sci.budget_kwh``, and with
``sci.budget_action=stop`` end the run cleanly (resumable) at that epoch end.

**Method** (:data:`METHOD`, also written into the report's ``budget`` block). After epoch
*k*, with ``E`` the facility energy so far (IT x PUE, previous resumed parts included, read
from the :class:`~sci_lightning.lightning.callback.EnergyCarbonCallback`'s monitor), ``n``
the optimizer steps done and ``N`` the planned steps (``trainer.estimated_stepping_batches``):

- projected energy = ``E + (E / n) x (N - n)``;
- projected gCO2e = ``E x I_so_far + (E / n) x (N - n) x I_rest``, where ``I_so_far`` is the
  provider's mean intensity over this part so far and ``I_rest`` its forecast mean over the
  remaining time (this part's seconds per step x remaining steps), or ``I_so_far`` when
  the provider has no usable forecast.

Every intensity is an overlap-weighted mean (:func:`sci_lightning.shifting.planner.window_mean`)
over the part of the window the series covers. A provider fault never stops training:
the projection then has no gCO2e (only the kWh budget is checked) and says why.

When the run stops at the budget, the report's ``budget`` block says so (``stopped``,
``statement``) with the share of the planned work done (``steps_done / steps_planned``)
and the checkpoint to resume from: ``last.ckpt`` of the run's
:class:`~sci_lightning.lightning.checkpointing.LastCheckpoint`, written when the fit ends
(after the energy window is closed, so a resumed job's totals are exact); without one this
callback saves ``<default_root_dir>/checkpoints/last.ckpt`` itself at fit end. Place it
after the EnergyCarbonCallback in ``callbacks``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_warn
from typing_extensions import override

from sci_lightning.accounting import FIT
from sci_lightning.carbon.base import IntensityProvider, IntensitySeries
from sci_lightning.energy.base import utcnow
from sci_lightning.errors import ConfigError
from sci_lightning.lightning.callback import EnergyCarbonCallback
from sci_lightning.lightning.checkpointing import LAST_NAME, LastCheckpoint
from sci_lightning.lightning.wiring import EnergyLink, trainer_callbacks
from sci_lightning.redaction import redact
from sci_lightning.settings import CarbonConfig, SciConfig, coerce
from sci_lightning.shifting.planner import PlanError, window_mean
from sci_lightning.warn_once import WarnOnce

if TYPE_CHECKING:
    from lightning.pytorch import LightningModule, Trainer

__all__ = ["CarbonBudget", "CarbonBudgetWarning", "covered_mean", "project_job", "running_energy_callback"]

METHOD = (
    "projected energy = energy so far (IT x PUE) + energy per optimizer step so far x remaining steps "
    "(trainer.estimated_stepping_batches - global_step); projected gCO2e = energy so far x mean intensity so far "
    "+ remaining energy x the provider's forecast mean over the remaining time (seconds per step so far x "
    "remaining steps), or x the mean so far when there is no usable forecast"
)
_J_PER_KWH = 3.6e6


class CarbonBudgetWarning(UserWarning):
    """The projected job total exceeds the carbon budget (issued once per fit)."""


@dataclass(frozen=True)
class Projection:
    """The job's projected totals after some of its steps."""

    steps_done: int
    steps_planned: int
    energy_so_far_kwh: float
    projected_kwh: float
    projected_g: float | None  # None: no intensity known
    intensity_so_far_g_per_kwh: float | None
    intensity_rest_g_per_kwh: float | None
    intensity_source: str  # forecast | mean so far | none

    @property
    def fraction_done(self) -> float:
        """Steps done / planned (1.0 when nothing was planned)."""
        return self.steps_done / self.steps_planned if self.steps_planned > 0 else 1.0


def project_job(
    energy_so_far_kwh: float,
    steps_done: int,
    steps_planned: int,
    so_far_g_per_kwh: float | None,
    rest_g_per_kwh: float | None,
) -> tuple[float, float | None]:
    """``(projected kWh, projected gCO2e)`` of the whole job (see :data:`METHOD`); pure.

    ``rest_g_per_kwh=None`` uses the mean so far for the remaining steps; gCO2e is
    ``None`` when ``so_far_g_per_kwh`` is ``None``.
    """
    remaining_steps = max(steps_planned - steps_done, 0)
    rest_kwh = energy_so_far_kwh / steps_done * remaining_steps if steps_done > 0 else 0.0
    projected_kwh = energy_so_far_kwh + rest_kwh
    if so_far_g_per_kwh is None:
        return projected_kwh, None
    rest_i = so_far_g_per_kwh if rest_g_per_kwh is None else rest_g_per_kwh
    return projected_kwh, energy_so_far_kwh * so_far_g_per_kwh + rest_kwh * rest_i


def covered_mean(series: IntensitySeries, start: datetime, end: datetime) -> float | None:
    """Overlap-weighted mean intensity over the part of ``[start, end)`` the series covers (``None``: none)."""
    points = sorted(series.points, key=lambda p: p.start)
    if not points:
        return None
    lo, hi = max(start, points[0].start), min(end, points[-1].end)
    if hi <= lo:
        return None
    try:
        return window_mean(points, lo, hi)
    except PlanError:  # a gap inside the window
        return None


def running_energy_callback(trainer: Trainer) -> EnergyCarbonCallback | None:
    """The trainer's EnergyCarbonCallback, if its ``fit`` window is open."""
    for cb in trainer_callbacks(trainer):
        if isinstance(cb, EnergyCarbonCallback) and cb.monitor is not None and FIT in cb.monitor.open_windows:
            return cb
    return None


def _last_checkpoint(trainer: Trainer) -> LastCheckpoint | None:
    for cb in trainer_callbacks(trainer):
        if isinstance(cb, LastCheckpoint):
            return cb
    return None


class CarbonBudget(Callback):
    """Warn once, or stop cleanly, when the projected job total exceeds the carbon budget.

    Args:
        sci: the SCI settings holding ``budget_g`` (gCO2e), ``budget_kwh`` (facility kWh)
            and ``budget_action`` (``warn`` | ``stop``); a SciConfig, dict or OmegaConf node.
        provider: the intensity provider; default the EnergyCarbonCallback's.
        clock: the current UTC time (injectable for tests).
        energy: the EnergyCarbonCallback it reads (default: the one in ``trainer.callbacks``,
            found in ``setup``); it must come after it in ``callbacks`` (checked in ``setup``).

    ``record`` is the latest projection as stored in the report's ``budget`` block.

    Raises:
        ConfigError: a misspelt or invalid setting, or neither budget set.
    """

    def __init__(
        self,
        sci: SciConfig | dict[str, Any] | None = None,
        provider: IntensityProvider | None = None,
        clock: Callable[[], datetime] = utcnow,
        energy: EnergyCarbonCallback | None = None,
    ) -> None:
        super().__init__()
        self.sci = coerce(SciConfig, sci, "sci")
        self._energy = EnergyLink(
            self, energy, "after", "its budget block goes into the energy callback's report"
        )
        if self.sci.budget_g is None and self.sci.budget_kwh is None:
            raise ConfigError(
                "Invalid setting sci.budget_g=None: CarbonBudget needs a budget. "
                "Set sci.budget_g (gCO2e) and/or sci.budget_kwh (kWh), or leave the callback out."
            )
        self.provider = provider
        self.clock = clock
        self.record: dict[str, Any] | None = None
        self.stopped = False
        self._once = WarnOnce()
        self._part_start = clock()
        self._part_start_step = 0
        self._own_ckpt: str | None = None

    # ------------------------------------------------------------------ hooks
    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Link the energy callback and check the order (before training)."""
        if stage == FIT:
            self._energy.resolve(trainer)

    @override
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Start this part's clock and step count (a resumed job continues its global step)."""
        self._part_start, self._part_start_step = self.clock(), trainer.global_step
        self.record, self.stopped, self._own_ckpt = None, False, None
        self._once.reset()

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Project the job total; warn once if it exceeds the budget; with ``stop``, stop the fit."""
        energy = self._energy.running()
        if energy is None:
            self._warn_once(
                "no-energy",
                "CarbonBudget: no running EnergyCarbonCallback in trainer.callbacks; "
                "the carbon budget is not checked",
            )
            return
        record = self._check(trainer, energy) if trainer.is_global_zero else None
        record = trainer.strategy.broadcast(record, src=0)  # every rank takes rank 0's decision
        assert record is not None  # rank 0 always has one
        if record["exceeded"]:
            self._warn_once("exceeded", record["statement"])
        if record["stopped"]:
            self.stopped = True
            trainer.should_stop = True
        self.record = record
        energy.report_meta["budget"] = record

    @override
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Stopped without a LastCheckpoint: save ``last.ckpt`` now (the energy window is closed)."""
        if self._own_ckpt is not None:
            trainer.save_checkpoint(self._own_ckpt)

    # ------------------------------------------------------------------ projection
    def _check(self, trainer: Trainer, energy: EnergyCarbonCallback) -> dict[str, Any]:
        """The budget record after this epoch (rank 0)."""
        projection = self.project(trainer, energy)
        exceeded = self._exceeded(projection)
        stop = exceeded and self.sci.budget_action == "stop" and projection.fraction_done < 1.0
        record = self._record(projection, exceeded, stop)
        if stop:
            record["checkpoint"] = self._checkpoint_path(trainer)
        record["statement"] = self._statement(record)
        return record

    def project(self, trainer: Trainer, energy: EnergyCarbonCallback) -> Projection:
        """The job's projected totals now (see :data:`METHOD`)."""
        if energy.monitor is None:
            raise ValueError(
                "CarbonBudget.project: the EnergyCarbonCallback has not started measuring (no monitor)"
            )
        now = self.clock()
        steps_done = int(trainer.global_step)
        planned = trainer.estimated_stepping_batches
        steps_planned = int(planned) if math.isfinite(planned) else steps_done
        so_far_kwh = energy.monitor.energy_so_far_j(FIT) * energy.energy_config.pue / _J_PER_KWH
        so_far_i, rest_i, source = self._intensities(
            energy, now, self._remaining_s(now, steps_done, steps_planned)
        )
        kwh, g = project_job(so_far_kwh, steps_done, steps_planned, so_far_i, rest_i)
        return Projection(
            steps_done,
            steps_planned,
            so_far_kwh,
            kwh,
            g,
            so_far_i,
            rest_i if rest_i is not None else so_far_i,
            source,
        )

    def _remaining_s(self, now: datetime, steps_done: int, steps_planned: int) -> float:
        """This part's seconds per step x the remaining steps."""
        part_steps = steps_done - self._part_start_step
        if part_steps <= 0:
            return 0.0
        return (now - self._part_start).total_seconds() / part_steps * max(steps_planned - steps_done, 0)

    def _intensities(
        self, energy: EnergyCarbonCallback, now: datetime, remaining_s: float
    ) -> tuple[float | None, float | None, str]:
        """``(mean so far, forecast mean over the rest or None, source)``; a provider fault only warns."""
        provider = self._provider(energy)
        so_far = self._ask(
            lambda: covered_mean(provider.history(self._part_start, now), self._part_start, now)
        )
        if so_far is None:
            so_far = self._ask(lambda: provider.current().g_per_kwh)
        if so_far is None:
            return None, None, "none"
        if remaining_s <= 0:
            return so_far, None, "mean so far"
        end = now + timedelta(seconds=remaining_s)
        rest = self._ask(lambda: covered_mean(provider.forecast(now, end - now), now, end))
        return so_far, rest, "mean so far" if rest is None else "forecast"

    def _provider(self, energy: EnergyCarbonCallback) -> IntensityProvider:
        if self.provider is None:
            carbon = energy.carbon
            if isinstance(carbon, IntensityProvider):
                self.provider = carbon
            else:
                from sci_lightning.carbon import build_provider

                self.provider = build_provider(coerce(CarbonConfig, carbon, "carbon"))  # None: the defaults
        return self.provider

    def _ask(self, fn: Callable[[], float | None]) -> float | None:
        """``fn()``, or ``None`` (warned once) when the provider fails."""
        try:
            return fn()
        except Exception as err:
            self._warn_once(
                "provider",
                redact(
                    f"CarbonBudget: intensity not available ({type(err).__name__}: "
                    f"{err}); projecting without it"
                ),
            )
            return None

    def _exceeded(self, p: Projection) -> bool:
        over_g = (
            self.sci.budget_g is not None and p.projected_g is not None and p.projected_g > self.sci.budget_g
        )
        over_kwh = self.sci.budget_kwh is not None and p.projected_kwh > self.sci.budget_kwh
        return over_g or over_kwh

    def _checkpoint_path(self, trainer: Trainer) -> str:
        """Where the resumable checkpoint of a stopped run is (written when the fit ends)."""
        last = _last_checkpoint(trainer)
        if last is not None:
            return last.last_path
        self._own_ckpt = str(Path(trainer.default_root_dir) / "checkpoints" / LAST_NAME)
        return self._own_ckpt

    # ------------------------------------------------------------------ the report
    def _record(self, p: Projection, exceeded: bool, stopped: bool) -> dict[str, Any]:
        return {
            "budget_g": self.sci.budget_g,
            "budget_kwh": self.sci.budget_kwh,
            "action": self.sci.budget_action,
            **asdict(p),
            "fraction_done": p.fraction_done,
            "exceeded": exceeded,
            "stopped": stopped,
            "checkpoint": None,
            "method": METHOD,
        }

    def _statement(self, r: dict[str, Any]) -> str:
        """One line for the log and the report."""
        projected = f"{r['projected_kwh']:.6g} kWh" + (
            f", {r['projected_g']:.6g} gCO2e" if r["projected_g"] is not None else ""
        )
        limits = " / ".join(
            x
            for x in (
                f"{r['budget_g']:g} gCO2e" if r["budget_g"] is not None else "",
                f"{r['budget_kwh']:g} kWh" if r["budget_kwh"] is not None else "",
            )
            if x
        )
        done = f"{r['steps_done']}/{r['steps_planned']} steps ({100 * r['fraction_done']:.1f}% of the planned work)"
        if r["stopped"]:
            return (
                f"Stopped at the carbon budget after {done}: the projected job total ({projected}) exceeds the "
                f"budget ({limits}). Resume with ckpt_path={r['checkpoint']} and a larger budget to finish."
            )
        if r["exceeded"]:
            return (
                f"Carbon budget: the projected job total ({projected}) exceeds the budget ({limits}) after "
                f"{done}; training goes on (sci.budget_action=warn)."
            )
        return f"Carbon budget: the projected job total ({projected}) is within the budget ({limits}) after {done}."

    def _warn_once(self, key: str, message: str) -> None:
        if self._once.first(key):
            rank_zero_warn(message, category=CarbonBudgetWarning)
