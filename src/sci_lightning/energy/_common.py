"""Small helpers shared by the energy meters: host name, warn-once fault bookkeeping."""

from __future__ import annotations

import socket
from functools import lru_cache

from sci_lightning.warn_once import WarnOnce

#: At most this many notes are kept per meter/component (faults are rare; this bounds memory).
MAX_NOTES = 20


class EnergyMeterWarning(UserWarning):
    """A meter could not measure as asked and fell back (training continues)."""


@lru_cache(maxsize=1)
def hostname() -> str:
    """This host's name, used as the device id of host-level meters (CPU, RAM)."""
    return socket.gethostname() or "localhost"


def add_note(notes: list[str], note: str) -> None:
    """Append ``note`` unless it is already there or the list is full (bounded)."""
    if note in notes:
        return
    if len(notes) < MAX_NOTES:
        notes.append(note)
    elif not notes[-1].startswith("further notes omitted"):
        notes[-1] = "further notes omitted"


class FaultLog:
    """Warn once per meter, remember every reason in ``notes``.

    Meters never raise from ``read_j``; when something breaks they call :meth:`fault`,
    which issues a single :class:`EnergyMeterWarning` for the meter's lifetime and
    records the reason so it reaches ``EnergyResult.warnings`` / component notes.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self.notes: list[str] = []
        self._once = WarnOnce()

    def fault(self, message: str, *, warn: bool = True) -> None:
        add_note(self.notes, message)
        if warn:
            self._once.warn("fault", f"{self.label}: {message}", EnergyMeterWarning, stacklevel=3)
