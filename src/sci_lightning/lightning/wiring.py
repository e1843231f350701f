"""How the companion callbacks reach the :class:`~sci_lightning.lightning.callback.EnergyCarbonCallback`.

Each companion (carbon budget, Prometheus exporter, progress lines, slot schedule) takes the
energy callback as ``energy=`` in its constructor. When it is not given, :meth:`EnergyLink.resolve`
finds the one in ``trainer.callbacks`` once, in ``setup``; either way the order the companion
relies on is checked there, and a wrong order is a :class:`~sci_lightning.errors.ConfigError`
naming the fix, before training. Lightning keeps the user's order of ordinary callbacks
(it only moves tuners first and checkpoint callbacks last).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sci_lightning.accounting import FIT
from sci_lightning.errors import ConfigError

if TYPE_CHECKING:
    from lightning.pytorch import Callback, Trainer

    from sci_lightning.lightning.callback import EnergyCarbonCallback

__all__ = ["EnergyLink", "trainer_callbacks"]


def trainer_callbacks(trainer: Trainer) -> list[Callback]:
    """``trainer.callbacks`` in Lightning's order (a Trainer sets it in a connector and its class
    does not declare it, hence ``getattr``); empty for an object without callbacks."""
    return list(getattr(trainer, "callbacks", []))


class EnergyLink:
    """A companion's link to the energy callback.

    Args:
        owner: the companion callback.
        energy: the energy callback given to the companion's constructor (``None``: resolved in ``setup``).
        order: ``"after"`` / ``"before"``: the companion must come after / before the energy callback
            in ``callbacks``; ``None``: any order.
        why: what the order is for (quoted in the error).
    """

    def __init__(
        self, owner: Callback, energy: EnergyCarbonCallback | None, order: str | None = None, why: str = ""
    ) -> None:
        self.owner, self.energy, self.order, self.why = owner, energy, order, why
        self._given = energy is not None

    def resolve(self, trainer: Trainer) -> EnergyCarbonCallback | None:
        """Find the energy callback (if not given) and check the order; call from ``setup``."""
        from sci_lightning.lightning.callback import EnergyCarbonCallback

        callbacks = trainer_callbacks(trainer)
        if not self._given:
            found = [cb for cb in callbacks if isinstance(cb, EnergyCarbonCallback)]
            self.energy = found[0] if found else None
        if self.energy is None or self.order is None or self.owner not in callbacks:
            return self.energy
        if self.energy not in callbacks:
            raise ConfigError(
                f"{type(self.owner).__name__}(energy=...) names an EnergyCarbonCallback that is not in"
                " this Trainer's callbacks; add it to Trainer(callbacks=[...])"
            )
        mine, theirs = callbacks.index(self.owner), callbacks.index(self.energy)
        if (self.order == "after") != (mine > theirs):
            name = type(self.owner).__name__
            raise ConfigError(
                f"{name} must come {self.order} the EnergyCarbonCallback in Trainer(callbacks=[...])"
                f" ({self.why}); move it {self.order} it"
            )
        return self.energy

    def running(self) -> EnergyCarbonCallback | None:
        """The energy callback while its ``fit`` window is open, else ``None``."""
        cb = self.energy
        if cb is not None and cb.monitor is not None and FIT in cb.monitor.open_windows:
            return cb
        return None
