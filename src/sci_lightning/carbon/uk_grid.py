"""Great Britain's Carbon Intensity API (NESO / National Grid), no key needed.

Signal: **average** carbon intensity of GB electricity generation in gCO2/kWh at 30-minute
resolution. Per the API's own summary it counts the CO2 of generation only (operational,
not lifecycle): large metered power stations, interconnector imports, transmission and
distribution losses, embedded wind and solar.

National data has an estimated ``actual`` for past half-hours and a ``forecast`` for all;
this provider uses ``actual`` when published and ``forecast`` otherwise, and the series'
``kind`` and ``notes`` say which. Regional data is forecast-only (NESO publishes no
regional actuals), so regional history comes back with ``kind="forecast"``.

Endpoints (base ``https://api.carbonintensity.org.uk``, times ``YYYY-MM-DDThh:mmZ`` UTC)::

    national                                  regional (suffix: regionid/{1-17} | postcode/{outward})
    GET /intensity                            GET /regional/{suffix}                      current
    GET /intensity/{from}/{to}                GET /regional/intensity/{from}/{to}/{suffix}  history
    GET /intensity/{from}/fw24h | fw48h       GET /regional/intensity/{from}/fw24h/{suffix} forecast

A history request may span at most 14 days; longer windows are split into chunks of
13 days (one day of margin), and also at each 1 January, because ranges that cross the
new year have been seen to lose the new year's data. Errors come back as
``{"error": {"code": "400 Bad Request", "message": "..."}}``.

Licence: the API's data is CC BY 4.0; series notes carry the credit.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .base import IntensityPoint, IntensitySeries, ProviderError, check_plausible, ensure_utc
from .http import HttpProvider, HttpStatusError, expect_type, parse_time, require

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..settings import CarbonConfig
    from .http import HttpOptions

log = logging.getLogger(__name__)

__all__ = ["UkGridProvider", "parse_region"]

DEFAULT_BASE_URL = "https://api.carbonintensity.org.uk"
SOURCE = "Carbon Intensity API (NESO, GB)"
CREDIT = "Data: Carbon Intensity API for Great Britain, NESO (carbonintensity.org.uk), CC BY 4.0."
HALF_HOUR = timedelta(minutes=30)
#: documented maximum span of one {from}/{to} request.
MAX_RANGE = timedelta(days=14)
#: what this provider asks for per request (one day of margin under MAX_RANGE).
CHUNK = timedelta(days=13)
#: the API forecasts at most 48 h ahead.
MAX_FORECAST = timedelta(hours=48)

#: GB region ids of the API (shortnames as documented) and accepted aliases.
REGION_IDS: dict[str, int] = {
    "north scotland": 1,
    "south scotland": 2,
    "north west england": 3,
    "north east england": 4,
    "yorkshire": 5,
    "south yorkshire": 5,
    "north wales": 6,
    "north wales & merseyside": 6,
    "north wales, merseyside and cheshire": 6,
    "south wales": 7,
    "west midlands": 8,
    "east midlands": 9,
    "east england": 10,
    "south west england": 11,
    "south england": 12,
    "london": 13,
    "south east england": 14,
    "england": 15,
    "scotland": 16,
    "wales": 17,
}
_NATIONAL = {"gb", "national", "uk", "great britain", "gb-national"}
_OUTWARD = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?$")
_FULL_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)\s*([0-9][A-Z]{2})$")
_REGION_HELP = (
    "set carbon.region to 'GB' (national), a region id 1-17 (e.g. 13 = London; 15 England, 16 Scotland, "
    "17 Wales), a region name such as 'London', or an outward postcode such as 'RG10'."
)


def parse_region(region: object) -> tuple[str, str | None]:
    """Interpret ``carbon.region`` for this API.

    Returns ``("national", None)``, ``("regionid", "13")`` or ``("postcode", "RG10")``.
    A full postcode is cut to its outward code (the API accepts only that).

    Raises:
        ConfigError: the value is none of the accepted forms.
    """
    if isinstance(region, bool):
        raise ConfigError(f"carbon.region={region!r} is not a GB region: {_REGION_HELP}")
    if isinstance(region, int):
        text = str(region)
    else:
        text = str(region or "").strip()
    low = " ".join(text.lower().split())
    if low in _NATIONAL:
        return "national", None
    if low.isdigit():
        num = int(low)
        if 1 <= num <= 17:
            return "regionid", str(num)
        raise ConfigError(f"carbon.region={text!r}: GB region ids run from 1 to 17; {_REGION_HELP}")
    if low in REGION_IDS:
        return "regionid", str(REGION_IDS[low])
    up = text.upper().strip()
    if _OUTWARD.match(up):
        return "postcode", up
    full = _FULL_POSTCODE.match(up)
    if full:
        return "postcode", full.group(1)
    raise ConfigError(f"carbon.region={text!r} is not a GB region: {_REGION_HELP}")


def _floor_half_hour(ts: datetime) -> datetime:
    return ts.replace(minute=0 if ts.minute < 30 else 30, second=0, microsecond=0)


def _ceil_half_hour(ts: datetime) -> datetime:
    floor = _floor_half_hour(ts)
    return floor if floor == ts else floor + HALF_HOUR


def _fmt(ts: datetime) -> str:
    """The API's path time format, e.g. ``2018-01-20T12:00Z``."""
    return ensure_utc(ts).strftime("%Y-%m-%dT%H:%MZ")


def _chunks(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Split [start, end) into request ranges of at most CHUNK that never cross 1 January."""
    out = []
    a = start
    while a < end:
        new_year = datetime(a.year + 1, 1, 1, tzinfo=timezone.utc)
        b = min(a + CHUNK, end, new_year)
        out.append((a, b))
        a = b
    return out


class UkGridProvider(HttpProvider):
    """Carbon intensity for Great Britain (national, a DNO region, or a postcode area).

    Args:
        region: ``"GB"``/``"national"``, a region id 1-17 (int or str), a region name
            (``"London"``), or an outward postcode (``"RG10"``); see :func:`parse_region`.
        base_url: API host (default ``https://api.carbonintensity.org.uk``).
        timeout_s, retries, backoff_s, max_total_wait_s, sleep, session: passed to the shared
            :class:`~sci_lightning.carbon.http.HttpProvider`.
        now: clock for the default forecast start (tests inject one).

    Example::

        provider = UkGridProvider("13")                      # London
        series = provider.forecast(horizon=timedelta(hours=24))
    """

    name = "uk_grid"
    signal_type = "average"
    DEFAULT_BASE_URL = DEFAULT_BASE_URL

    def __init__(
        self,
        region: str | int | None = "GB",
        *,
        base_url: str | None = None,
        now: Callable[[], datetime] | None = None,
        **http: Unpack[HttpOptions],
    ):
        self.scope, self.key = parse_region(region)
        if self.scope == "national":
            self.region = "GB"
        elif self.scope == "regionid":
            self.region = f"GB-region-{self.key}"
        else:
            self.region = f"GB-postcode-{self.key}"
        self.region_name: str | None = "Great Britain" if self.scope == "national" else None
        self._now = now or (lambda: datetime.now(timezone.utc))
        super().__init__(base_url=base_url, **http)

    @classmethod
    def config_kwargs(cls, cfg: CarbonConfig) -> dict[str, Any]:
        """``region``; coordinates are not used: GB regions are chosen by id, name or postcode."""
        signal = cfg.signal_type
        if signal not in (None, "average"):
            raise ConfigError(
                f"carbon.signal_type={signal!r} is not available from the GB Carbon Intensity API, which gives "
                "average intensity only; set carbon.signal_type to average or null."
            )
        return dict(region=cfg.region)

    def __repr__(self) -> str:
        return f"UkGridProvider(region={self.region!r}, base_url={self.base_url!r})"

    # ------------------------------------------------------------------ requests

    def _suffix(self) -> str:
        return f"{self.scope}/{self.key}"

    def _get(self, path: str) -> dict[str, Any]:
        try:
            body = self._http.get_json(path, headers={"Accept": "application/json"})
        except HttpStatusError as exc:
            raise self._explain(exc, path) from None
        body = expect_type(body, dict, f"response of {path}", self.name)
        if "data" not in body and "error" in body:  # an error reported with a 2xx status
            raise ProviderError(
                self.name,
                f'the API reported an error on {path}: "{self._http.redact(self._error_text(body))}".',
                "check carbon.region and try again later; keep a fallback provider (carbon.fallback).",
            )
        return body

    @staticmethod
    def _error_text(body: Any) -> str:
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict):
            return ": ".join(str(err[k]) for k in ("code", "message") if err.get(k) not in (None, ""))
        return str(err if err is not None else body)[:300]

    def _explain(self, exc: HttpStatusError, path: str) -> HttpStatusError:
        """Re-word 400/404 with the GB-specific fix; quote the API's nested error message as text."""
        api = exc.api_message
        try:
            api = self._error_text(json.loads(api)) or api
        except ValueError:
            pass
        if exc.status in (400, 404, 422):
            msg = f"request rejected for {self.region} (HTTP {exc.status} on {path})" + (
                f': "{api}".' if api else "."
            )
            return HttpStatusError(self.name, exc.status, msg, _REGION_HELP, api_message=api)
        return exc

    # ------------------------------------------------------------------ parsing

    def _rows_of(self, body: dict[str, Any], path: str) -> list[Any]:
        """The half-hour rows, whatever the endpoint's nesting.

        National: ``{"data": [rows]}``. Regional: ``{"data": {"regionid", "shortname", "data": [rows]}}``
        (range endpoints) or ``{"data": [{"regionid", ..., "data": [rows]}]}`` (current; also what the
        docs show for every regional endpoint): both are accepted.
        """
        data = body.get("data")
        if self.scope == "national":
            return expect_type(data, list, f"{path} data", self.name)
        regions = [data] if isinstance(data, dict) else expect_type(data, list, f"{path} data", self.name)
        rows: list[Any] = []
        for i, reg in enumerate(regions):
            what = f"{path} data[{i}]"
            rows.extend(require(reg, "data", list, what, self.name))
            name = reg.get("shortname")
            if isinstance(name, str) and name:
                self.region_name = name
        return rows

    def _parse_rows(
        self, rows: list[Any], what: str, prefer_actual: bool = True
    ) -> tuple[list[tuple[IntensityPoint, bool]], int]:
        """``(point, is_actual)`` sorted by start and de-duplicated; and the count of rows without a value.

        With ``prefer_actual`` the published actual wins over the forecast; without it only the
        forecast is used (for forecast series)."""
        by_start: dict[datetime, tuple[IntensityPoint, bool]] = {}
        empty = 0
        for i, row in enumerate(rows):
            item = f"{what}[{i}]"
            start = parse_time(require(row, "from", str, item, self.name), f"{item}.from", self.name)
            end = parse_time(require(row, "to", str, item, self.name), f"{item}.to", self.name)
            if end <= start:
                raise ProviderError(
                    self.name,
                    f"malformed response: {item} ends ({end.isoformat()}) before it starts ({start.isoformat()}).",
                    "the API's response format may have changed.",
                )
            intensity = require(row, "intensity", dict, item, self.name)
            actual = intensity.get("actual")
            forecast = intensity.get("forecast")
            for key, val in (("actual", actual), ("forecast", forecast)):
                if val is not None:
                    expect_type(val, (int, float), f"{item}.intensity.{key}", self.name)
            if actual is not None and prefer_actual:
                value, is_actual = float(actual), True
            elif forecast is not None:
                value, is_actual = float(forecast), False
            else:
                empty += 1
                continue
            by_start[start] = (IntensityPoint(start, end, value), is_actual)
        return [by_start[k] for k in sorted(by_start)], empty

    def _series(
        self, labelled: list[tuple[IntensityPoint, bool]], empty: int, *, history: bool, extra: list[str]
    ) -> IntensitySeries:
        points = [p for p, _ in labelled]
        n_actual = sum(1 for _, a in labelled if a)
        n = len(points)
        notes = [CREDIT, "Signal: average intensity of GB generation, operational CO2 only (not lifecycle)."]
        if self.region_name and self.scope != "national":
            notes.append(f"Region: {self.region_name} ({self.scope} {self.key}).")
        if history:
            if n and n_actual == n:
                kind = "measured"
                notes.append("All values are the API's estimated actual intensity (measured).")
            elif n_actual:
                kind = "measured"
                notes.append(
                    f"{n_actual} of {n} half-hours use the API's actual intensity; {n - n_actual} use its forecast "
                    "because no actual was published (yet)."
                )
            else:
                kind = "forecast"
                why = (
                    "regional data is forecast-only"
                    if self.scope != "national"
                    else "no actuals were published"
                )
                notes.append(f"All {n} values are the API's forecasts ({why}); none is a measured actual.")
        else:
            kind = "forecast"
        if empty:
            notes.append(f"{empty} half-hour(s) without any value were left out.")
        if not n:
            notes.append("The API returned no data for this window.")
        return self._checked(
            IntensitySeries(
                points=points,
                source=SOURCE,
                region=self.region,
                signal_type="average",
                kind=kind,  # type: ignore[arg-type]
                generated_at=None,
                notes=notes + extra,
            )
        )

    @staticmethod
    def _clip(
        labelled: list[tuple[IntensityPoint, bool]], start: datetime, end: datetime
    ) -> list[tuple[IntensityPoint, bool]]:
        return [(p, a) for p, a in labelled if p.end > start and p.start < end]

    # ------------------------------------------------------------------ API

    def _range_path(self, a: datetime, b: datetime) -> str:
        if self.scope == "national":
            return f"/intensity/{_fmt(a)}/{_fmt(b)}"
        return f"/regional/intensity/{_fmt(a)}/{_fmt(b)}/{self._suffix()}"

    def history(self, start: datetime, end: datetime) -> IntensitySeries:
        """Half-hourly intensities overlapping [start, end); windows over 14 days are chunked."""
        start = ensure_utc(start, "start")
        end = ensure_utc(end, "end")
        if end <= start:
            raise ValueError(
                f"history window is empty or reversed: start={start.isoformat()} end={end.isoformat()}."
            )
        chunks = _chunks(_floor_half_hour(start), _ceil_half_hour(end))
        rows: list[Any] = []
        for a, b in chunks:
            path = self._range_path(a, b)
            rows.extend(self._rows_of(self._get(path), path))
        labelled, empty = self._parse_rows(rows, "history")
        extra = (
            [f"Fetched in {len(chunks)} requests (the API allows at most {MAX_RANGE.days} days each)."]
            if len(chunks) > 1
            else []
        )
        return self._series(self._clip(labelled, start, end), empty, history=True, extra=extra)

    def forecast(
        self, start: datetime | None = None, horizon: timedelta = timedelta(hours=24)
    ) -> IntensitySeries:
        """Half-hourly forecast overlapping [start, start + horizon); the API covers up to 48 h."""
        start = ensure_utc(start, "start") if start is not None else ensure_utc(self._now(), "now")
        if horizon <= timedelta(0):
            raise ValueError(f"forecast horizon must be positive, got {horizon}.")
        extra: list[str] = []
        if horizon > MAX_FORECAST:
            extra.append(f"The API forecasts at most 48 h ahead; the requested {horizon} was cut to 48 h.")
            horizon = MAX_FORECAST
        window = "fw24h" if horizon <= timedelta(hours=24) else "fw48h"
        frm = _fmt(_floor_half_hour(start))
        if self.scope == "national":
            path = f"/intensity/{frm}/{window}"
        else:
            path = f"/regional/intensity/{frm}/{window}/{self._suffix()}"
        # a forecast series holds forecast values, even where an actual is already known
        labelled, empty = self._parse_rows(
            self._rows_of(self._get(path), path), "forecast", prefer_actual=False
        )
        return self._series(self._clip(labelled, start, start + horizon), empty, history=False, extra=extra)

    def current(self) -> IntensityPoint:
        """The current half-hour (``actual`` when published, else ``forecast``)."""
        path = "/intensity" if self.scope == "national" else f"/regional/{self._suffix()}"
        labelled, _ = self._parse_rows(self._rows_of(self._get(path), path), "current")
        if not labelled:
            raise ProviderError(
                self.name,
                f"no current intensity for {self.region} (empty data from {path}).",
                "try again later or keep a fallback provider (carbon.fallback).",
            )
        point, is_actual = labelled[-1]
        check_plausible([point], self.name, self.region)
        log.debug(
            "%s: current %s g/kWh (%s)", self.name, point.g_per_kwh, "actual" if is_actual else "forecast"
        )
        return point
