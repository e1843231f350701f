"""ProgressLines: one plain line per epoch for logs that are not a terminal (nohup, SLURM, CI).

Lightning's progress bar redraws one terminal line; written to a file it is either off or
unreadable. ``python -m sci_lightning`` turns the bar off when stderr is not a terminal
(``trainer.enable_progress_bar=null``) and adds this callback instead, which prints, on
rank 0, after every training epoch (validation included)::

    epoch 1/2 | step 63/126 | train/loss 2.281 | train/acc 0.131 | val/loss 2.270 | val/acc 0.150 |
    energy 0.421 Wh | 22s elapsed | ~22s left

(one line). The metrics are the progress-bar metrics (``prog_bar=True``, epoch means where
logged both per step and per epoch); the energy so far (PUE applied) is read from the
:class:`~sci_lightning.lightning.callback.EnergyCarbonCallback`'s monitor when one is
running; the time left is the time per optimizer step so far times the steps left. Energy is always
in Wh, on every line.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from lightning.pytorch.callbacks import Callback
from typing_extensions import override

from sci_lightning.accounting import FIT
from sci_lightning.lightning.wiring import EnergyLink
from sci_lightning.timefmt import duration_short

if TYPE_CHECKING:
    from lightning.pytorch import LightningModule, Trainer

    from sci_lightning.lightning.callback import EnergyCarbonCallback

__all__ = ["ProgressLines"]


def _value(v: Any) -> float | None:
    try:
        return float(v.item() if hasattr(v, "item") else v)
    except (TypeError, ValueError, RuntimeError):
        return None


class ProgressLines(Callback):
    """Print one progress line per training epoch (rank 0) to ``stream`` (default stderr).

    ``energy``: the EnergyCarbonCallback whose energy so far the line shows (default: the one
    in ``trainer.callbacks``, found in ``setup``).
    """

    def __init__(self, stream: TextIO | None = None, energy: EnergyCarbonCallback | None = None) -> None:
        super().__init__()
        self._energy = EnergyLink(self, energy)
        self.stream = stream
        self._t0: float | None = None
        self._step0 = 0

    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage == FIT:
            self._energy.resolve(trainer)

    @override
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._t0, self._step0 = time.monotonic(), trainer.global_step  # a resumed fit starts mid-way

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        try:
            line = self.line(trainer)
        except Exception as err:
            line = f"epoch {trainer.current_epoch + 1}: (no progress line: {type(err).__name__}: {err})"
        print(line, file=self.stream or sys.stderr, flush=True)

    def line(self, trainer: Trainer) -> str:
        """The progress line for the epoch that just ended."""
        epoch = trainer.current_epoch + 1
        max_epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else None
        parts = [f"epoch {epoch}/{max_epochs}" if max_epochs else f"epoch {epoch}"]
        step, planned = trainer.global_step, _planned_steps(trainer)
        parts.append(f"step {step}/{planned}" if planned else f"step {step}")
        parts += [f"{name} {value:.4g}" for name, value in _bar_metrics(trainer).items()]
        energy_j = _energy_so_far_j(self._energy)
        if energy_j is not None:
            parts.append(f"energy {_energy_text(energy_j)}")
        if self._t0 is not None:
            elapsed = time.monotonic() - self._t0
            parts.append(f"{duration_short(elapsed)} elapsed")
            done = step - self._step0
            if planned and done > 0 and planned >= step:
                parts.append(f"~{duration_short(elapsed / done * (planned - step))} left")
        return " | ".join(parts)


def _planned_steps(trainer: Trainer) -> int | None:
    try:
        n = trainer.estimated_stepping_batches
    except Exception:
        return None
    return int(n) if isinstance(n, (int, float)) and n != float("inf") and n > 0 else None


def _bar_metrics(trainer: Trainer) -> dict[str, float]:
    """The progress bar's metrics: the epoch mean of ``x`` (``x_epoch``) rather than its last step."""
    raw = dict(trainer.progress_bar_metrics)
    out: dict[str, float] = {}
    for name, v in raw.items():
        if name.endswith("_step") and f"{name[:-5]}_epoch" in raw:
            continue
        value = _value(v)
        if value is not None:
            out[name[:-6] if name.endswith("_epoch") else name] = value
    return dict(sorted(out.items()))  # train/* before val/*


def _energy_so_far_j(link: EnergyLink) -> float | None:
    """Facility joules so far (PUE applied) of the running EnergyCarbonCallback, if any."""
    cb = link.running()
    if cb is None or cb.monitor is None:
        return None
    return cb.monitor.energy_so_far_j(FIT) * cb.energy_config.pue


def _energy_text(j: float) -> str:
    """Always Wh (one unit from the first line to the last, as in the summary line)."""
    return f"{j / 3600.0:.3g} Wh"
