"""Electricity Maps (API v3) carbon-intensity provider.

Signal: **average** carbon intensity of the electricity *consumed* in a zone (flow-traced,
imports included), in gCO2eq/kWh, computed with **lifecycle** emission factors unless
``emission_factor_type="direct"`` is chosen. Hourly resolution. Values that Electricity Maps
had to estimate (``isEstimated: true``) are counted in ``series.notes`` with the estimation
method, so a report can say how much of the figure is measured and how much estimated.

Endpoints used (``auth-token`` header, token from the ``ELECTRICITYMAPS_TOKEN`` env var)::

    GET {base}/v3/carbon-intensity/latest?zone=DE          -> {"zone","carbonIntensity","datetime",...}
    GET {base}/v3/carbon-intensity/history?zone=DE         -> {"zone","history":[...]}   (last 24 h)
    GET {base}/v3/carbon-intensity/past-range?zone=DE&start=..&end=..
                                                           -> {"zone","data":[...]}      (<= 10 days/request)
    GET {base}/v3/carbon-intensity/forecast?zone=DE        -> {"zone","forecast":[...],"updatedAt"}

``lat``/``lon`` replace ``zone`` when the config gives coordinates. Every request sends
``shouldUseFallbackCallerLookup=false`` so an unknown zone/location is an error instead of
silently returning data for the caller's IP location.

``/latest`` and ``/history`` are on the free personal tier; ``/past-range`` (older than 24 h)
and ``/forecast`` need a commercial plan or trial: a 403 says so in its fix.

Data from Electricity Maps must be credited "Electricity Maps"; every series carries that
credit in ``source`` and ``notes``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .base import IntensityPoint, IntensitySeries, ProviderError, check_plausible, ensure_utc
from .http import (
    HttpProvider,
    HttpStatusError,
    env_credentials,
    expect_type,
    format_time,
    parse_time,
    require,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..settings import CarbonConfig
    from .http import HttpOptions

log = logging.getLogger(__name__)

__all__ = ["TOKEN_ENV", "ElectricityMapsProvider"]

TOKEN_ENV = "ELECTRICITYMAPS_TOKEN"
DEFAULT_BASE_URL = "https://api.electricitymaps.com"  # legacy host api.electricitymap.org still answers
CREDIT = "Electricity Maps"
HOURLY = timedelta(hours=1)
#: /history covers the last 24 h; a little slack so "now - 24h" windows still use it.
HISTORY_SPAN = timedelta(hours=24)
#: documented maximum span of one /past-range request at hourly granularity.
PAST_RANGE_MAX = timedelta(days=10)
_PORTAL = "https://portal.electricitymaps.com"


class ElectricityMapsProvider(HttpProvider):
    """Grid carbon intensity from the Electricity Maps API v3.

    Args:
        zone: an Electricity Maps zone key (``"DE"``, ``"FR"``, ``"US-CAL-CISO"``...).
            Ignored when ``latitude``/``longitude`` are given.
        latitude, longitude: query by coordinates instead of a zone key.
        base_url: API host (default ``https://api.electricitymaps.com``).
        token: the API token; default: the ``ELECTRICITYMAPS_TOKEN`` environment variable.
            Never stored in ``repr()``, logs or error messages.
        emission_factor_type: ``"lifecycle"`` (API default) or ``"direct"``.
        disable_estimations: ask the API to leave out estimated values.
        timeout_s, retries, backoff_s, max_total_wait_s, sleep, session: passed to the shared
            :class:`~sci_lightning.carbon.http.HttpProvider`.
        now: clock used to decide between ``/history`` and ``/past-range`` (tests inject one).

    Raises:
        ProviderError: the token environment variable is not set.
        ConfigError: neither a zone nor both coordinates are given.

    Example::

        provider = ElectricityMapsProvider(zone="DE")       # ELECTRICITYMAPS_TOKEN exported
        series = provider.history(start, end)               # hourly, kind="measured"
    """

    DEFAULT_BASE_URL = DEFAULT_BASE_URL
    CREDENTIAL_ENV = (TOKEN_ENV,)

    name = "electricity_maps"
    signal_type = "average"

    def __init__(
        self,
        zone: str | None = None,
        *,
        latitude: float | None = None,
        longitude: float | None = None,
        base_url: str | None = None,
        token: str | None = None,
        emission_factor_type: str = "lifecycle",
        disable_estimations: bool = False,
        now: Callable[[], datetime] | None = None,
        **http: Unpack[HttpOptions],
    ):
        if (latitude is None) != (longitude is None):
            raise ConfigError(
                "carbon.latitude and carbon.longitude must be set together for Electricity Maps "
                f"(got latitude={latitude!r}, longitude={longitude!r})."
            )
        if latitude is not None:
            lat, lon = float(latitude), float(longitude)  # type: ignore[arg-type]
            if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
                raise ConfigError(
                    f"carbon.latitude/longitude ({lat}, {lon}) are out of range (-90..90, -180..180)."
                )
            self._location: dict[str, str] = {"lat": repr(lat), "lon": repr(lon)}
            self.region = f"lat={lat},lon={lon}"
        else:
            zone = (zone or "").strip()
            if not zone or zone.lower() in ("world", "global"):
                raise ConfigError(
                    f"carbon.region={zone!r} is not an Electricity Maps zone. Set carbon.region to a zone key "
                    "(e.g. DE, FR, GB, US-CAL-CISO; the list is at GET /v3/zones) or set carbon.latitude and "
                    "carbon.longitude."
                )
            self._location = {"zone": zone}
            self.region = zone
        if emission_factor_type not in ("lifecycle", "direct"):
            raise ConfigError(
                f"emission_factor_type={emission_factor_type!r} is invalid; use 'lifecycle' or 'direct'."
            )
        self.emission_factor_type = emission_factor_type
        self.disable_estimations = bool(disable_estimations)
        if token is None:
            (token,) = env_credentials(self.name, TOKEN_ENV)
        self.__token = token
        self._now = now or (lambda: datetime.now(timezone.utc))
        super().__init__(base_url=base_url, secrets=[token], **http)

    @classmethod
    def config_kwargs(cls, cfg: CarbonConfig) -> dict[str, Any]:
        """``region`` is the zone key, or ``latitude``/``longitude``; ``signal_type`` may be
        ``"lifecycle"``/``"direct"`` (emission-factor type) or left unset."""
        eft = cfg.signal_type or "lifecycle"
        if eft == "average":  # the only signal this provider has; keep the API default
            eft = "lifecycle"
        if eft not in ("lifecycle", "direct"):
            raise ConfigError(
                f"carbon.signal_type={eft!r} is not available from Electricity Maps, which gives average intensity "
                "only; set carbon.signal_type to lifecycle (default), direct, or null."
            )
        return dict(zone=cfg.region, latitude=cfg.latitude, longitude=cfg.longitude, emission_factor_type=eft)

    def __repr__(self) -> str:  # the token is never shown
        return (
            f"ElectricityMapsProvider(region={self.region!r}, base_url={self.base_url!r}, "
            f"emission_factor_type={self.emission_factor_type!r})"
        )

    # ------------------------------------------------------------------ requests

    def _params(self, **extra: str) -> dict[str, str]:
        params = dict(self._location)
        params["shouldUseFallbackCallerLookup"] = "false"
        params["emissionFactorType"] = self.emission_factor_type
        params["temporalGranularity"] = "hourly"
        if self.disable_estimations:
            params["disableEstimations"] = "true"
        params.update(extra)
        return params

    def _get(self, endpoint: str, **extra: str) -> dict[str, Any]:
        path = f"/v3/carbon-intensity/{endpoint}"
        try:
            body = self._http.get_json(
                path, params=self._params(**extra), headers={"auth-token": self.__token}
            )
        except HttpStatusError as exc:
            raise self._explain(exc, endpoint) from None
        return expect_type(body, dict, f"{endpoint} response", self.name)

    def _explain(self, exc: HttpStatusError, endpoint: str) -> HttpStatusError:
        """Re-word an HTTP error with the Electricity Maps specific fix."""
        api = f": {exc.api_message!r}" if exc.api_message else ""
        where = f"/v3/carbon-intensity/{endpoint} for {self.region}"
        if exc.status == 401:
            msg = f"the API token was rejected (HTTP 401 on {where}){api}."
            fix = (
                f"export {TOKEN_ENV} with a valid token from {_PORTAL} (never put it in a config file), "
                "or choose another carbon.provider."
            )
        elif exc.status == 403:
            msg = f"the token has no access (HTTP 403 on {where}){api}."
            if endpoint in ("past-range", "forecast"):
                fix = (
                    f"/{endpoint} needs a commercial plan or trial ({_PORTAL}); the free tier covers /latest and "
                    "the last 24 h of /history. Use a plan that includes it, or another provider/fallback."
                )
            else:
                fix = f"your plan may not include zone {self.region!r}; pick a zone your token covers ({_PORTAL})."
        elif exc.status in (400, 404, 422):
            msg = f"request rejected for {self.region} (HTTP {exc.status} on /v3/carbon-intensity/{endpoint}){api}."
            fix = (
                "check carbon.region is an Electricity Maps zone key (e.g. DE, FR, US-CAL-CISO; GET /v3/zones lists "
                "them) or that carbon.latitude/longitude are inside a covered zone."
            )
        else:
            return exc
        return HttpStatusError(
            self.name, exc.status, self._http.redact(msg), fix, api_message=exc.api_message
        )

    # ------------------------------------------------------------------ parsing

    def _parse_rows(self, rows: list[Any], what: str) -> tuple[list[tuple[datetime, float]], list[str]]:
        """``(start, g_per_kwh)`` pairs sorted and de-duplicated, plus notes on estimated values."""
        self._check_granularity(rows, what)
        by_start: dict[datetime, float] = {}
        estimated: Counter[str] = Counter()
        missing = 0
        for i, row in enumerate(rows):
            item = f"{what}[{i}]"
            expect_type(row, dict, item, self.name)
            ts = parse_time(require(row, "datetime", str, item, self.name), f"{item}.datetime", self.name)
            value = require(row, "carbonIntensity", (int, float, type(None)), item, self.name)
            if value is None:  # a gap in the zone's data: leave it out, say so
                missing += 1
                continue
            if value < 0:
                raise ProviderError(
                    self.name,
                    f"malformed response: {item}.carbonIntensity is negative ({value}).",
                    "the API's response format may have changed.",
                )
            self._check_factor_type(row, item)
            if row.get("isEstimated"):
                estimated[str(row.get("estimationMethod") or "unspecified method")] += 1
            by_start[ts] = float(value)
        pairs = sorted(by_start.items())
        notes = []
        if estimated:
            detail = ", ".join(f"{n} by {m}" for m, n in sorted(estimated.items()))
            notes.append(
                f"{sum(estimated.values())} of {len(pairs)} values are Electricity Maps estimates ({detail}); "
                "the rest are computed from reported grid data."
            )
        if missing:
            notes.append(f"{missing} hour(s) without a value (null carbonIntensity) were left out.")
        return pairs, notes

    def _check_granularity(self, rows: list[Any], what: str) -> None:
        """Refuse rows that say they are not hourly (``temporalGranularity``), since this
        provider asks for, and builds, hourly points."""
        for i, row in enumerate(rows):
            served = row.get("temporalGranularity") if isinstance(row, dict) else None
            if served is not None and served != "hourly":
                raise ProviderError(
                    self.name,
                    f"{what}[{i}] has temporalGranularity {str(served)[:40]!r}, not the hourly data asked for; "
                    "the data was refused.",
                    "check that carbon.base_url is the Electricity Maps API (v3).",
                )

    def _check_factor_type(self, row: dict[str, Any], item: str) -> None:
        """Refuse values computed with other emission factors than asked (lifecycle vs direct
        differ by 10-30 %; a report must not call one the other)."""
        self._refuse_other_kind(
            "emissionFactorType",
            row.get("emissionFactorType"),
            self.emission_factor_type,
            item,
            "check carbon.signal_type (lifecycle or direct) and that carbon.base_url is the Electricity Maps API.",
        )

    def _zone_notes(self, body: dict[str, Any], what: str) -> list[str]:
        """What the response's ``zone`` says about where the data is for: the zone that
        coordinates resolved to, or a data-quality note when it is not the zone asked for."""
        served = body.get("zone")
        if not isinstance(served, str) or not served.strip():
            return []
        asked = self._location.get("zone")
        if asked is None:
            return [f"{self.region} resolved to zone {served.strip()[:40]!r} (the {what} response's zone)."]
        return self._served_note("Electricity Maps", "zone", served, asked)

    @staticmethod
    def _to_points(pairs: list[tuple[datetime, float]]) -> tuple[list[IntensityPoint], list[str]]:
        """Hour-start stamps to one-hour [start, end) points (the API's documented hourly
        granularity, whatever the spacing of the rows), and a note for every gap between rows."""
        points = [IntensityPoint(ts, ts + HOURLY, v) for ts, v in pairs]
        gaps = [(a.end, b.start) for a, b in zip(points, points[1:]) if b.start > a.end]
        if not gaps:
            return points, []
        hours = sum((b - a).total_seconds() for a, b in gaps) / 3600
        shown = "; ".join(f"{a.isoformat()} to {b.isoformat()}" for a, b in gaps[:3]) + (
            "; ..." if len(gaps) > 3 else ""
        )
        return points, [
            f"data-quality: {len(gaps)} gap(s) without hourly data ({hours:g} h in all: {shown}); energy in a gap "
            "is charged at the nearest hour's value."
        ]

    def _series(
        self, points: list[IntensityPoint], kind: str, notes: list[str], generated_at=None
    ) -> IntensitySeries:
        base_notes = [
            f"Data: {CREDIT} (https://www.electricitymaps.com), credit required.",
            f"Signal: average consumption-based carbon intensity, {self.emission_factor_type} emission factors.",
        ]
        return self._checked(
            IntensitySeries(
                points=points,
                source=CREDIT,
                region=self.region,
                signal_type="average",
                kind=kind,  # type: ignore[arg-type]
                generated_at=generated_at,
                notes=base_notes + notes,
            )
        )

    @staticmethod
    def _clip(points: list[IntensityPoint], start: datetime, end: datetime) -> list[IntensityPoint]:
        return [p for p in points if p.end > start and p.start < end]

    # ------------------------------------------------------------------ API

    def history(self, start: datetime, end: datetime) -> IntensitySeries:
        """Hourly intensities overlapping [start, end).

        Windows within the last 24 h use the free ``/history`` endpoint; older windows use
        ``/past-range`` in requests of at most 10 days each.
        """
        start = ensure_utc(start, "start")
        end = ensure_utc(end, "end")
        if end <= start:
            raise ValueError(
                f"history window is empty or reversed: start={start.isoformat()} end={end.isoformat()}."
            )
        now = ensure_utc(self._now(), "now")
        notes: list[str] = []
        if start >= now - HISTORY_SPAN:
            body = self._get("history")
            rows = require(body, "history", list, "history response", self.name)
            pairs, notes = self._parse_rows(rows, "history")
            notes = self._zone_notes(body, "history") + notes
        else:
            pairs_all: dict[datetime, float] = {}
            chunk_start = start.replace(minute=0, second=0, microsecond=0)
            n_requests = 0
            while chunk_start < end:
                chunk_end = min(chunk_start + PAST_RANGE_MAX, end)
                body = self._get("past-range", start=format_time(chunk_start), end=format_time(chunk_end))
                rows = require(body, "data", list, "past-range response", self.name)
                chunk_pairs, chunk_notes = self._parse_rows(rows, "past-range data")
                chunk_notes = [
                    n for n in self._zone_notes(body, "past-range") if n not in notes
                ] + chunk_notes
                pairs_all.update(chunk_pairs)
                notes.extend(chunk_notes)
                n_requests += 1
                chunk_start = chunk_end
            pairs = sorted(pairs_all.items())
            if n_requests > 1:
                notes.append(
                    f"fetched in {n_requests} /past-range requests of at most {PAST_RANGE_MAX.days} days."
                )
        points, gap_notes = self._to_points(pairs)
        return self._series(self._clip(points, start, end), "measured", notes + gap_notes)

    def forecast(
        self, start: datetime | None = None, horizon: timedelta = timedelta(hours=24)
    ) -> IntensitySeries:
        """Hourly forecast overlapping [start, start + horizon) (start defaults to now).

        The API forecasts from the current hour; ``generated_at`` is its ``updatedAt``.
        """
        start = ensure_utc(start, "start") if start is not None else ensure_utc(self._now(), "now")
        if horizon <= timedelta(0):
            raise ValueError(f"forecast horizon must be positive, got {horizon}.")
        end = start + horizon
        body = self._get("forecast")
        rows = require(body, "forecast", list, "forecast response", self.name)
        pairs, notes = self._parse_rows(rows, "forecast")
        notes = self._zone_notes(body, "forecast") + notes
        generated_at = None
        if isinstance(body.get("updatedAt"), str):
            generated_at = parse_time(body["updatedAt"], "forecast updatedAt", self.name)
        points, gap_notes = self._to_points(pairs)
        clipped = self._clip(points, start, end)
        notes += gap_notes + self._coverage_notes(points, clipped, start, end)
        return self._series(clipped, "forecast", notes, generated_at)

    @staticmethod
    def _coverage_notes(
        points: list[IntensityPoint], clipped: list[IntensityPoint], start: datetime, end: datetime
    ) -> list[str]:
        """What part of [start, end) the forecast does not cover, said once and correctly."""
        if not points:
            return []
        if not clipped:
            return [
                f"the forecast covers {points[0].start.isoformat()} to {points[-1].end.isoformat()}, which does "
                f"not overlap the requested window {start.isoformat()} to {end.isoformat()}."
            ]
        if clipped[-1].end < end:
            return [
                f"the forecast ends at {clipped[-1].end.isoformat()}, before the requested horizon end "
                f"{end.isoformat()}."
            ]
        return []

    def current(self) -> IntensityPoint:
        """The latest hourly value from ``/latest`` (may be an Electricity Maps estimate)."""
        body = self._get("latest")
        pairs, notes = self._parse_rows([body], "latest")
        if not pairs:
            raise ProviderError(
                self.name,
                f"no current intensity for {self.region} (carbonIntensity is null).",
                "try again later or keep a fallback provider (carbon.fallback).",
            )
        for note in notes:
            log.info("%s: %s", self.name, self._http.redact(note))
        ts, value = pairs[-1]
        point = IntensityPoint(ts, ts + HOURLY, value)
        check_plausible([point], self.name, self.region)
        return point
