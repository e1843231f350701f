"""Green Software Foundation Carbon Aware SDK WebAPI provider (self-hosted; ``base_url`` required).

The WebAPI fronts a data source the operator configures (WattTime, Electricity Maps, a
JSON file...). Its values are gCO2e/kWh; whether they are marginal or average depends on
that data source (WattTime: marginal, Electricity Maps: average), so ``signal_type`` is a
setting here (default ``"marginal"``) and every series notes that it was declared, not detected.

Endpoints used::

    GET /emissions/bylocation?location=&time=&toTime=
        -> [{"location", "time", "rating", "duration"}]                     (history)
    GET /emissions/forecasts/current?location=&dataStartAt=&dataEndAt=&windowSize=
        -> [{"generatedAt", "requestedAt", "location", "dataStartAt", "dataEndAt", "windowSize",
             "optimalDataPoints": [{"location", "timestamp", "duration", "value"}],
             "forecastData":      [{"location", "timestamp", "duration", "value"}]}]
    GET /emissions/average-carbon-intensity?location=&startTime=&endTime=
        -> {"location", "startTime", "endTime", "carbonIntensity"}

``duration`` is minutes (a number) in forecasts; in ``bylocation`` results it may be a
.NET TimeSpan string (``"00:05:00"``, ``"1.00:00:00"``) or minutes; both are read.
A point without ``duration`` lasts the data source's resolution: the smallest spacing
between the response's points (so a gap in the data stays a gap, noted, instead of
stretching the point before it). ``204 No Content`` (the SDK's answer when
its data source has nothing for the window) is "no data": an empty series whose note says
so, which a fallback chain replaces, quoting that note. Older SDK versions return a single ``optimalDataPoint`` object; that is read too. Errors
come back as ASP.NET ValidationProblemDetails (``title``, ``detail``, ``errors``), whose
text is quoted in the ProviderError.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .base import IntensityPoint, IntensitySeries, ProviderError, check_plausible, ensure_utc
from .http import HttpProvider, HttpStatusError, NoContent, expect_type, format_time, parse_time, require

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..settings import CarbonConfig
    from .http import HttpOptions

__all__ = ["CarbonAwareSdkProvider", "parse_timespan"]

_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d+))?$")


def parse_timespan(value: object, what: str, provider: str) -> timedelta | None:
    """SDK duration: minutes (number) or TimeSpan ``[d.]hh:mm:ss[.fffffff]``; None if absent/zero."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ProviderError(
            provider, f"malformed response: {what} is a boolean, expected minutes or hh:mm:ss."
        )
    if isinstance(value, (int, float)):
        return timedelta(minutes=float(value)) if value > 0 else None
    if isinstance(value, str):
        m = _TIMESPAN.match(value.strip())
        if m:
            days, h, mi, s, frac = m.groups()
            td = timedelta(
                days=int(days or 0), hours=int(h), minutes=int(mi), seconds=int(s) + float(f"0.{frac or 0}")
            )
            return td if td > timedelta(0) else None
    raise ProviderError(
        provider, f"malformed response: {what} {value!r} is not minutes or a hh:mm:ss duration."
    )


class CarbonAwareSdkProvider(HttpProvider):
    """Intensities from a Carbon Aware SDK WebAPI you host.

    Args:
        location: an SDK location name (e.g. ``"eastus"``, ``"westus"``; see ``GET /locations``).
        base_url: the WebAPI root, e.g. ``http://localhost:8080`` (required).
        signal_type: ``"marginal"`` (default; WattTime-backed SDK) or ``"average"``
            (Electricity Maps-backed SDK). Declared, not detected.
        default_duration: length of a lone point with no duration and no neighbour to take
            the spacing from (default 1 h; noted as an assumption). Points with neighbours
            take the spacing between them.
        timeout_s, retries, backoff_s, max_total_wait_s, sleep, session: passed to the shared
            :class:`~sci_lightning.carbon.http.HttpProvider`.

    Example::

        p = CarbonAwareSdkProvider("westus", base_url="http://localhost:8080")
        series, optimal = p.forecast_with_optimal(window_size_min=60)
    """

    name = "carbon_aware_sdk"

    def __init__(
        self,
        location: str | None,
        *,
        base_url: str | None,
        signal_type: str | None = "marginal",
        default_duration: timedelta = timedelta(hours=1),
        **http: Unpack[HttpOptions],
    ):
        if not base_url:
            raise ConfigError(
                "carbon.base_url is required for carbon_aware_sdk: the Carbon Aware SDK WebAPI is self-hosted, so "
                "set carbon.base_url to your deployment, e.g. carbon.base_url=http://localhost:8080 "
                "(docker run -p 8080:8080 ghcr.io/green-software-foundation/carbon-aware-sdk)."
            )
        location = (location or "").strip()
        if not location or location.lower() == "world":
            raise ConfigError(
                f"carbon.region={location!r} is not a Carbon Aware SDK location; set it to a location name your "
                "WebAPI knows (GET /locations lists them), e.g. eastus or westus."
            )
        signal_type = signal_type or "marginal"
        if signal_type not in ("marginal", "average"):
            raise ConfigError(
                f"carbon.signal_type={signal_type!r} is invalid for carbon_aware_sdk; use 'marginal' (WattTime-backed "
                "SDK) or 'average' (Electricity Maps-backed SDK)."
            )
        self.region = location
        self.signal_type = signal_type  # type: ignore[assignment]
        self.default_duration = default_duration
        super().__init__(base_url=base_url, **http)

    @classmethod
    def config_kwargs(cls, cfg: CarbonConfig) -> dict[str, Any]:
        """region (SDK location) and signal_type."""
        return dict(location=cfg.region, signal_type=cfg.signal_type)

    def __repr__(self) -> str:
        return f"CarbonAwareSdkProvider(location={self.region!r}, base_url={self.base_url!r}, signal_type={self.signal_type!r})"

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        """The decoded body; None when the SDK answers ``204 No Content`` (no data)."""
        try:
            return self._http.get_json(path, params=params)
        except NoContent:
            return None
        except HttpStatusError as exc:
            if exc.status in (400, 404, 422):
                api = f" The SDK says: {exc.api_message!r}." if exc.api_message else ""
                raise HttpStatusError(
                    self.name,
                    exc.status,
                    f"request for location {self.region!r} rejected (HTTP {exc.status} on {path}).{api}",
                    "check carbon.region is a location your WebAPI knows (GET /locations) and that the time "
                    "window lies within the data source's range.",
                    api_message=exc.api_message,
                ) from None
            raise

    def _notes(self, extra: list[str] | None = None) -> list[str]:
        return [
            f"Carbon Aware SDK WebAPI at {self.base_url}; signal_type {self.signal_type!r} as configured "
            "(depends on the SDK's data source).",
            *(extra or []),
        ]

    def _location_notes(self, items: list[Any]) -> list[str]:
        """A data-quality note when the SDK answered for another location than asked (its
        ``location`` field, the name it was given, should echo ``carbon.region``)."""
        named = {
            i["location"].strip() for i in items if isinstance(i, dict) and isinstance(i.get("location"), str)
        }
        served = sorted(n for n in named if n and n.casefold() != self.region.casefold())
        return self._served_note("the Carbon Aware SDK", "location", ", ".join(served)) if served else []

    def _points(
        self, items: list[Any], what: str, time_key: str, value_key: str
    ) -> tuple[list[IntensityPoint], list[str]]:
        """Points sorted by time (duplicates dropped), and notes on durations that were inferred."""
        raw: list[tuple[datetime, float, timedelta | None]] = []
        for i, item in enumerate(items):
            t = parse_time(
                require(item, time_key, str, f"{what}[{i}]", self.name), f"{what}[{i}].{time_key}", self.name
            )
            v = require(item, value_key, (int, float), f"{what}[{i}]", self.name)
            if not math.isfinite(v):
                raise ProviderError(self.name, f"malformed response: {what}[{i}].{value_key} is {v!r}.")
            d = parse_timespan(
                item.get("duration") if isinstance(item, dict) else None, f"{what}[{i}].duration", self.name
            )
            if not any(r[0] == t for r in raw):  # duplicate timestamp: keep the first
                raw.append((t, float(v), d))
        raw.sort(key=lambda r: r[0])
        step = self._spacing(raw)
        points = [
            IntensityPoint(t, t + (d if d is not None else step or self.default_duration), v)
            for t, v, d in raw
        ]
        notes = []
        if step is None and any(d is None for _, _, d in raw):
            notes.append(
                f"data-quality: {sum(d is None for _, _, d in raw)} {what} point(s) had no duration and no "
                f"neighbour to take the spacing from; each was taken to last {self.default_duration} "
                "(an assumption)."
            )
        gaps = [(a.end, b.start) for a, b in zip(points, points[1:]) if b.start > a.end]
        if gaps:
            notes.append(
                f"data-quality: {len(gaps)} gap(s) in {what} (first {format_time(gaps[0][0])} to "
                f"{format_time(gaps[0][1])}); no intensity is assumed there."
            )
        return points, notes

    @staticmethod
    def _spacing(raw: list[tuple[datetime, float, timedelta | None]]) -> timedelta | None:
        """The data source's resolution, for points the SDK gives no duration: the smallest
        spacing between consecutive points (so a gap stays a gap instead of stretching the
        point before it, as the SDK's own Electricity Maps source does when it takes every
        point's duration from the first two points); None for a lone point."""
        steps = [b[0] - a[0] for a, b in zip(raw, raw[1:]) if b[0] > a[0]]
        return min(steps) if steps else None

    # ------------------------------------------------------------------ API

    def history(self, start: datetime, end: datetime) -> IntensitySeries:
        """Observed points overlapping [start, end) from ``/emissions/bylocation``."""
        start, end = ensure_utc(start, "start"), ensure_utc(end, "end")
        body = self._get(
            "/emissions/bylocation",
            {"location": self.region, "time": format_time(start), "toTime": format_time(end)},
        )
        if body is None:
            return self._checked(
                IntensitySeries(
                    [],
                    "Carbon Aware SDK /emissions/bylocation",
                    self.region,
                    self.signal_type,
                    "measured",
                    notes=self._notes([self._no_content(start, end)]),
                )
            )
        expect_type(body, list, "bylocation response", self.name)
        pts, extra = self._points(body, "bylocation", "time", "rating")
        extra = self._location_notes(body) + extra
        pts = [p for p in pts if p.end > start and p.start < end]
        notes = self._notes(extra + ([] if pts else ["the SDK returned no data for the requested window."]))
        return self._checked(
            IntensitySeries(
                pts,
                "Carbon Aware SDK /emissions/bylocation",
                self.region,
                self.signal_type,
                "measured",
                notes=notes,
            )
        )

    def _no_content(self, start: datetime, end: datetime) -> str:
        return (
            f"the SDK answered 204 No Content: no data for location {self.region!r} between "
            f"{format_time(start)} and {format_time(end)}."
        )

    def _forecast_params(
        self, start: datetime | None, horizon: timedelta, window_size_min: int | None
    ) -> tuple[dict[str, Any], datetime]:
        """The ``/emissions/forecasts/current`` query and the window's start (now when not given)."""
        params: dict[str, Any] = {"location": self.region}
        if start is not None:
            start = ensure_utc(start, "start")
            params["dataStartAt"] = format_time(start)
            params["dataEndAt"] = format_time(start + horizon)
        if window_size_min is not None:
            if int(window_size_min) <= 0:
                raise ValueError(f"window_size_min must be > 0, got {window_size_min!r}.")
            params["windowSize"] = int(window_size_min)
        return params, start if start is not None else datetime.now(timezone.utc)

    def forecast_with_optimal(
        self,
        start: datetime | None = None,
        horizon: timedelta = timedelta(hours=24),
        window_size_min: int | None = None,
    ) -> tuple[IntensitySeries, list[dict[str, Any]]]:
        """The current forecast plus the SDK's own optimal window(s).

        ``start`` given: sent as ``dataStartAt`` with ``dataEndAt = start + horizon`` (the SDK
        requires both inside its forecast). ``start`` omitted: the whole forecast is requested
        and points overlapping [now, now + horizon) are kept. ``window_size_min`` is the job
        length in minutes (SDK default: one data point); with it, the SDK may return
        ``forecastData`` as rolling window averages (noted on the series), so call
        :meth:`forecast` without it for point values.

        Returns ``(series, optimal)``; ``optimal`` is a list of dicts
        ``{"location": str, "start": datetime, "duration_min": float, "g_per_kwh": float}``
        (for a window size > 1 point, ``g_per_kwh`` is the SDK's window average).
        """
        params, lo = self._forecast_params(start, horizon, window_size_min)
        hi = lo + horizon
        body = self._get("/emissions/forecasts/current", params)
        if body is None:
            empty = IntensitySeries(
                [],
                "Carbon Aware SDK /emissions/forecasts/current",
                self.region,
                self.signal_type,
                "forecast",
                notes=self._notes([self._no_content(lo, hi)]),
            )
            return self._checked(empty), []
        fc = self._location_forecast(body)
        return self._forecast_series(fc, lo, hi, window_size_min), self._optimal(fc)

    def _location_forecast(self, body: Any) -> dict[str, Any]:
        """The forecast of this provider's location in a ``forecasts/current`` response (else the first)."""
        expect_type(body, list, "forecasts/current response", self.name)
        if not body:
            raise ProviderError(
                self.name,
                f"the SDK returned no forecast for location {self.region!r}.",
                "check the SDK's forecast data source supports this location.",
            )
        return next((f for f in body if isinstance(f, dict) and f.get("location") == self.region), body[0])

    def _forecast_series(
        self, fc: dict[str, Any], lo: datetime, hi: datetime, window_size_min: int | None
    ) -> IntensitySeries:
        """The forecast's points overlapping [lo, hi), with the notes on how to read them."""
        data = require(fc, "forecastData", list, "forecast", self.name)
        pts, duration_notes = self._points(data, "forecastData", "timestamp", "value")
        pts = [p for p in pts if p.end > lo and p.start < hi]
        gen = fc.get("generatedAt")
        generated_at = parse_time(gen, "forecast.generatedAt", self.name) if gen else None
        extra = (
            self._location_notes([fc])
            + duration_notes
            + ([] if pts else ["the forecast had no points in the requested window."])
        )
        if window_size_min is not None:
            extra.append(
                f"windowSize={int(window_size_min)} min: the SDK may return forecastData as rolling "
                "window averages rather than point values."
            )
        return self._checked(
            IntensitySeries(
                pts,
                "Carbon Aware SDK /emissions/forecasts/current",
                self.region,
                self.signal_type,
                "forecast",
                generated_at=generated_at,
                notes=self._notes(extra),
            )
        )

    def _optimal(self, fc: dict[str, Any]) -> list[dict[str, Any]]:
        """The SDK's optimal window(s): ``optimalDataPoints`` (or an older SDK's single
        ``optimalDataPoint``) as dicts of location, start, duration_min and g_per_kwh."""
        if "optimalDataPoints" in fc and fc["optimalDataPoints"] is not None:
            opt_raw = expect_type(fc["optimalDataPoints"], list, "forecast.optimalDataPoints", self.name)
        elif isinstance(fc.get("optimalDataPoint"), dict):
            opt_raw = [fc["optimalDataPoint"]]
        else:
            opt_raw = []
        optimal = []
        for i, o in enumerate(opt_raw):
            t = parse_time(
                require(o, "timestamp", str, f"optimalDataPoints[{i}]", self.name),
                f"optimalDataPoints[{i}].timestamp",
                self.name,
            )
            v = require(o, "value", (int, float), f"optimalDataPoints[{i}]", self.name)
            d = parse_timespan(o.get("duration"), f"optimalDataPoints[{i}].duration", self.name)
            optimal.append(
                {
                    "location": o.get("location", self.region),
                    "start": t,
                    "duration_min": d.total_seconds() / 60 if d else None,
                    "g_per_kwh": float(v),
                }
            )
        return optimal

    def forecast(
        self, start: datetime | None = None, horizon: timedelta = timedelta(hours=24)
    ) -> IntensitySeries:
        """The SDK's current forecast over [start, start + horizon) (see :meth:`forecast_with_optimal`)."""
        return self.forecast_with_optimal(start, horizon)[0]

    def average(self, start: datetime, end: datetime) -> float:
        """Measured average intensity (gCO2e/kWh) over [start, end) from ``/emissions/average-carbon-intensity``."""
        start, end = ensure_utc(start, "start"), ensure_utc(end, "end")
        body = self._get(
            "/emissions/average-carbon-intensity",
            {"location": self.region, "startTime": format_time(start), "endTime": format_time(end)},
        )
        if body is None:
            raise ProviderError(
                self.name, self._no_content(start, end), "choose a window the SDK's data source covers."
            )
        value = require(body, "carbonIntensity", (int, float), "average-carbon-intensity response", self.name)
        if not math.isfinite(value):
            raise ProviderError(self.name, f"malformed response: carbonIntensity is {value!r}.")
        check_plausible([IntensityPoint(start, end, float(value))], self.name, self.region)
        return float(value)
