"""Carbon-intensity provider interface and value types.

All times are timezone-aware UTC ``datetime`` objects; all intensities are gCO2e/kWh.
Every series says where it came from (``source``, ``region``), what it measures
(``signal_type``: ``"marginal"`` or ``"average"``) and what kind of value it is
(``kind``: ``"measured"`` history/actuals, ``"forecast"``, ``"static"`` table value,
or ``"fallback"`` when a provider in a fallback chain was replaced by the next one).
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Literal

from sci_lightning.errors import SciLightningError
from sci_lightning.redaction import redact

SignalType = Literal["marginal", "average"]
Kind = Literal["measured", "forecast", "static", "fallback"]

LBS_PER_MWH_TO_G_PER_KWH = 0.45359237  # 1 lb = 453.59237 g; per MWh -> per kWh: / 1000

#: The highest grid intensity accepted as physical, gCO2e/kWh. The dirtiest generation has
#: life-cycle factors of about 1,000-1,200 g/kWh (IPCC AR5 WG III Annex III, table A.III.2:
#: pulverised coal 740-910 g/kWh; lignite units and old oil peakers ~1,100-1,200); marginal
#: signals (WattTime MOER) can exceed an average, but not by 2.5x. Above this a value is a
#: unit error or a hostile server. See docs/methodology.md "Plausibility".
MAX_PLAUSIBLE_G_PER_KWH = 3000.0


class ProviderError(SciLightningError, RuntimeError):
    """A provider could not deliver. The message names the provider and the fix.

    The message and fix are redacted (:func:`sci_lightning.redaction.redact`: secret
    environment values, every credential the process registered, quoted credentials), so
    text a server sent back can be quoted in them safely."""

    def __init__(self, provider: str, message: str, fix: str | None = None):
        message = redact(message)
        fix = redact(fix) if fix else fix
        self.provider = provider
        self.fix = fix
        text = f"[{provider}] {message}"
        if fix:
            text += f" Fix: {fix}"
        super().__init__(text)


def _shown(value: object) -> str:
    """A value for a message: ``-226.8``, ``453,592,370.0``, or its repr when not a number."""
    return f"{value:,.1f}" if isinstance(value, (int, float)) and math.isfinite(value) else repr(value)


def check_plausible(points: list[IntensityPoint], provider: str, region: str = "") -> None:
    """Refuse intensities outside the physical range [0, MAX_PLAUSIBLE_G_PER_KWH] g/kWh
    (or not finite) with a ProviderError naming the first such value, so a fallback
    chain replaces them like a failed call."""
    for p in points:
        v = p.g_per_kwh
        if not (isinstance(v, (int, float)) and math.isfinite(v) and 0.0 <= v <= MAX_PLAUSIBLE_G_PER_KWH):
            where = f" for {region}" if region else ""
            raise ProviderError(
                provider,
                f"implausible carbon intensity{where}: {_shown(v)} gCO2e/kWh at {p.start.isoformat()} is outside the "
                f"physical range 0-{MAX_PLAUSIBLE_G_PER_KWH:,.0f} g/kWh; the data was refused.",
                "the provider sent wrong values or units; check carbon.base_url and the unit settings, "
                "or rely on carbon.fallback.",
            )


def ensure_utc(ts: datetime, what: str = "timestamp") -> datetime:
    """Return ``ts`` in UTC; refuse naive datetimes with a clear message."""
    if ts.tzinfo is None or ts.tzinfo.utcoffset(ts) is None:
        raise ValueError(
            f"{what} {ts.isoformat()} has no timezone; all times must be timezone-aware "
            "(use datetime(..., tzinfo=timezone.utc) or an ISO string ending in 'Z' / '+00:00')."
        )
    return ts.astimezone(timezone.utc)


@dataclass(frozen=True)
class IntensityPoint:
    """Intensity valid over [start, end)."""

    start: datetime
    end: datetime
    g_per_kwh: float


@dataclass
class IntensitySeries:
    points: list[IntensityPoint]
    source: str
    region: str
    signal_type: SignalType
    kind: Kind
    generated_at: datetime | None = None  # forecasts: when the forecast was issued
    notes: list[str] = field(default_factory=list)

    @property
    def resolution(self) -> timedelta | None:
        if not self.points:
            return None
        return self.points[0].end - self.points[0].start


class IntensityProvider(abc.ABC):
    """A source of grid carbon intensity for one region/location."""

    name: str = "?"
    signal_type: SignalType = "average"
    region: str = ""

    @abc.abstractmethod
    def history(self, start: datetime, end: datetime) -> IntensitySeries:
        """Measured (or table) intensities covering [start, end)."""

    @abc.abstractmethod
    def forecast(
        self, start: datetime | None = None, horizon: timedelta = timedelta(hours=24)
    ) -> IntensitySeries:
        """Forecast intensities from ``start`` (default: now) over ``horizon``."""

    def current(self) -> IntensityPoint:
        """The intensity now (default: the last point of the last hour's history)."""
        now = datetime.now(timezone.utc)
        series = self.history(now - timedelta(hours=1), now)
        if not series.points:
            raise ProviderError(self.name, f"no intensity data for region {self.region!r} in the last hour.")
        return series.points[-1]
