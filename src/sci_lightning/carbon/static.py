"""Static (table) carbon intensity: one annual-average value per country. The offline default.

What the numbers are
    Lifecycle carbon intensity of electricity *generation*, gCO2e/kWh, of the latest year
    **Ember** publishes for each country (2022, 2023 or 2024; every entry carries its year),
    from Ember's "Yearly electricity data" (country overview), as republished by CO2.js; the
    same series Our World in Data charts as "Carbon intensity of electricity generation".
    209 countries and territories and a world value, shipped as
    ``carbon/data/ember_yearly_intensity.csv`` (source, commit and licence in
    ``carbon/data/SOURCE.md``: CC BY-SA 4.0, credit Ember). Lifecycle means upstream methane,
    supply chain and plant manufacturing are included, all gases as CO2e over 100 years.

What they are not
    Not real-time, not marginal, not consumption-based (imports are ignored), and one
    number for a whole year. Every series from this provider is therefore labelled
    ``kind="static"`` and ``signal_type="average"``, and its ``notes`` name the table entry
    and its year. Regions not in the table get the world value, and the notes say so. Use
    ``static_g_per_kwh`` (config: ``carbon.static_g_per_kwh``) to supply your own figure,
    e.g. your utility's or your cloud region's published factor.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from .base import IntensityPoint, IntensityProvider, IntensitySeries, ensure_utc

if TYPE_CHECKING:
    from ..settings import CarbonConfig

__all__ = ["STATIC_TABLE", "STATIC_YEARS", "WORLD_G_PER_KWH", "StaticProvider", "lookup_static"]

STATIC_FILE = Path(__file__).with_name("data") / "ember_yearly_intensity.csv"
STATIC_SOURCE = (
    "Ember, Yearly electricity data (country overview), lifecycle carbon intensity of electricity "
    "generation, latest year per country, via CO2.js (CC BY-SA 4.0)"
)


def _read_table(path: Path) -> tuple[dict[str, tuple[str, float]], dict[str, int]]:
    """``({code: (country, g/kWh)}, {code: year})`` from the shipped CSV (``WORLD`` included)."""
    table: dict[str, tuple[str, float]] = {}
    years: dict[str, int] = {}
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            table[row["code"]] = (row["country"], float(row["g_per_kwh"]))
            years[row["code"]] = int(row["year"])
    return table, years


#: ISO 3166-1 alpha-2 code -> (country name, gCO2e/kWh): Ember, lifecycle, generation-based.
STATIC_TABLE, STATIC_YEARS = _read_table(STATIC_FILE)
_WORLD_NAME, WORLD_G_PER_KWH = STATIC_TABLE.pop("WORLD")
#: The world value's year (each country's is in :data:`STATIC_YEARS`).
STATIC_YEAR = STATIC_YEARS.pop("WORLD")

_WORLD_ALIASES = {"", "world", "global", "wld", "owid_wrl"}
_CODE_ALIASES = {"UK": "GB"}  # the common name of Great Britain's code
_NAME_TO_CODE = {name.lower(): code for code, (name, _) in STATIC_TABLE.items()}


@dataclass(frozen=True)
class StaticEntry:
    """The table row chosen for a region (``code`` is ``"WORLD"`` for the default)."""

    code: str
    name: str
    g_per_kwh: float
    matched: bool  # False when the region was not in the table and the world value was used
    year: int = STATIC_YEAR


def lookup_static(region: str | None) -> StaticEntry:
    """Find ``region`` in the table: ISO alpha-2 code, country name, or a zone id whose prefix
    before ``-`` is a code (``"DE-50HZ"`` -> ``DE``). Unknown regions get the world value."""
    key = (region or "").strip()
    if key.lower() in _WORLD_ALIASES:
        return StaticEntry("WORLD", "World", WORLD_G_PER_KWH, True, STATIC_YEAR)
    candidates = [key.upper(), key.split("-")[0].upper(), _NAME_TO_CODE.get(key.lower(), "")]
    candidates += [_CODE_ALIASES[c] for c in candidates if c in _CODE_ALIASES]
    for code in candidates:
        if code in STATIC_TABLE:
            name, value = STATIC_TABLE[code]
            return StaticEntry(code, name, value, True, STATIC_YEARS[code])
    return StaticEntry("WORLD", "World", WORLD_G_PER_KWH, False)


def _hourly_points(start: datetime, end: datetime, value: float) -> list[IntensityPoint]:
    """Contiguous points covering [start, end) on whole-hour boundaries (first/last clipped)."""
    points: list[IntensityPoint] = []
    t = start
    while t < end:
        nxt = min(t.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1), end)
        points.append(IntensityPoint(t, nxt, value))
        t = nxt
    return points


class StaticProvider(IntensityProvider):
    """A constant, table-based annual average intensity (``kind="static"``, ``signal_type="average"``).

    Args:
        region: ISO country code / name (see :data:`STATIC_TABLE`) or ``"world"``.
        g_per_kwh: override the table value (gCO2e/kWh), e.g. a supplier- or cloud-published factor.

    Every call returns contiguous hourly points (first and last clipped to the window) all
    carrying the same value, so code that walks a series works unchanged.

    Example::

        StaticProvider("DE").history(t0, t1).points[0].g_per_kwh   # Germany's row (Ember, 2024: 342.1)
    """

    name = "static"
    signal_type = "average"

    def __init__(self, region: str | None = "world", g_per_kwh: float | None = None):
        self.entry = lookup_static(region)
        self.region = (region or "world").strip() or "world"
        if g_per_kwh is not None:
            value = float(g_per_kwh)
            if not (value >= 0.0) or value == float("inf"):
                raise ConfigError(
                    f"carbon.static_g_per_kwh={g_per_kwh!r} is invalid; give a finite value >= 0 in gCO2e/kWh."
                )
            self.g_per_kwh = value
            self.source = f"static: user-supplied value (carbon.static_g_per_kwh={value:g} gCO2e/kWh)"
            self._notes = [f"user-supplied static intensity {value:g} gCO2e/kWh for region {self.region!r}."]
        else:
            self.g_per_kwh = self.entry.g_per_kwh
            self.source = f"static: {STATIC_SOURCE}"
            if self.entry.matched:
                self._notes = [
                    f"annual average {self.entry.name} {self.entry.year}: {self.g_per_kwh:g} gCO2e/kWh "
                    f"({STATIC_SOURCE}); not time-resolved."
                ]
            else:
                self._notes = [
                    f"region {self.region!r} is not in the static table; used the world average "
                    f"{WORLD_G_PER_KWH:g} gCO2e/kWh ({STATIC_YEAR}, Ember). Set carbon.static_g_per_kwh "
                    "for a better figure."
                ]

    @classmethod
    def from_config(cls, cfg: CarbonConfig) -> StaticProvider:
        """Build from the ``carbon`` config group (``region``, ``static_g_per_kwh``)."""
        return cls(region=cfg.region, g_per_kwh=cfg.static_g_per_kwh)

    def __repr__(self) -> str:
        return f"StaticProvider(region={self.region!r}, g_per_kwh={self.g_per_kwh:g})"

    def _series(self, start: datetime, end: datetime) -> IntensitySeries:
        start, end = ensure_utc(start, "start"), ensure_utc(end, "end")
        if end < start:
            raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}.")
        return IntensitySeries(
            points=_hourly_points(start, end, self.g_per_kwh),
            source=self.source,
            region=self.region,
            signal_type="average",
            kind="static",
            notes=list(self._notes),
        )

    def history(self, start: datetime, end: datetime) -> IntensitySeries:
        """The table value over [start, end) as hourly points."""
        return self._series(start, end)

    def forecast(
        self, start: datetime | None = None, horizon: timedelta = timedelta(hours=24)
    ) -> IntensitySeries:
        """The table value from ``start`` (default now) over ``horizon``; no time variation, so no
        carbon-aware saving can be found with it."""
        start = ensure_utc(start, "start") if start is not None else datetime.now(timezone.utc)
        return self._series(start, start + horizon)

    def current(self) -> IntensityPoint:
        now = datetime.now(timezone.utc)
        return IntensityPoint(now, now + timedelta(hours=1), self.g_per_kwh)
