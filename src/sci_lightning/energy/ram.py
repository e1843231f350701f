"""Estimated RAM energy: resident memory (GB) x watts per GB x wall time.

The resident set size of this process is sampled at most every ``sample_interval_s``
(one read of ``/proc/self/statm``) and integrated over wall time (rectangle rule with
the last sample), up to the moment of every reading: a window shorter than the sample
interval gets its share of the last sample's power, not 0 J. Children are left out: forked dataloader workers share most of their
pages with the parent, so adding their RSS would count the same memory twice.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable

from sci_lightning.energy._common import hostname
from sci_lightning.energy.base import METHODS, ComponentEnergy, EnergyMeter

RAM_ESTIMATE = "ram_per_gb_estimate"
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """Current resident set size of this process (peak RSS where /proc is missing)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class RamEstimateMeter(EnergyMeter):
    """Estimated energy of the memory this process holds.

    Args:
        w_per_gb: watts drawn per GB resident (default 0.375 W/GB, the figure the
            GSF case study and common calculators use).
        sample_interval_s: minimum seconds between RSS samples.
        rss: injectable RSS function in bytes (tests).
        clock: injectable monotonic clock (tests).
    """

    component = "ram"

    def __init__(
        self,
        w_per_gb: float = 0.375,
        sample_interval_s: float = 1.0,
        rss: Callable[[], int] = rss_bytes,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.w_per_gb = float(w_per_gb)
        self.sample_interval_s = sample_interval_s
        self._rss = rss
        self._clock = clock
        self._host = hostname()
        self._energy_j = 0.0
        self._last_t = 0.0
        self._last_gb = 0.0
        self._peak_gb = 0.0
        self._gb_s = 0.0

    def start(self) -> None:
        self._energy_j = 0.0
        self._gb_s = 0.0
        self._last_t = self._clock()
        self._last_gb = self._rss() / 1e9
        self._peak_gb = self._last_gb

    def _advance(self, now: float) -> None:
        dt = now - self._last_t
        if dt > 0:
            self._gb_s += self._last_gb * dt
            self._energy_j = self._gb_s * self.w_per_gb
        self._last_t = now
        self._last_gb = self._rss() / 1e9
        self._peak_gb = max(self._peak_gb, self._last_gb)

    def read_j(self) -> dict[str, float]:
        """Energy up to now: sampled RSS integrated to the last sample, the last sample since."""
        now = self._clock()
        if now - self._last_t >= self.sample_interval_s:
            self._advance(now)
        tail_gb_s = self._last_gb * max(0.0, now - self._last_t)
        return {self._host: (self._gb_s + tail_gb_s) * self.w_per_gb}

    def stop(self) -> None:
        self._advance(self._clock())

    def components(self) -> list[ComponentEnergy]:
        energy_j = self.read_j()[self._host]
        note = (
            f"{self._gb_s / 3600:.3f} GB-h resident (peak {self._peak_gb:.2f} GB) x {self.w_per_gb:g} W/GB; "
            "this process only"
        )
        return [
            ComponentEnergy("ram", self._host, energy_j, RAM_ESTIMATE, METHODS[RAM_ESTIMATE][0], "ok", [note])
        ]
