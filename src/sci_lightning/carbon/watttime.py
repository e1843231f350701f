"""WattTime API v3 provider (marginal operating emissions rate, MOER, by default).

Authentication
    ``GET {base}/login`` with HTTP basic auth (``WATTTIME_USERNAME`` / ``WATTTIME_PASSWORD``
    from the environment, never from config) returns ``{"token": "..."}``, a bearer token
    valid for 30 minutes. The provider logs in lazily, logs in again ``relogin_margin_s``
    before the 30 minutes run out (the clock is injectable), and once more when a data
    request answers 401 (token expired or revoked).

Endpoints (all with ``Authorization: Bearer <token>``)
    * ``/v3/forecast?region=&signal_type=&horizon_hours=`` (0..72 h) ->
      ``{"data": [{"point_time", "value"}], "meta": {"data_point_period_seconds",
      "generated_at", "units", "region", "signal_type", ...}}``
    * ``/v3/historical?region=&start=&end=&signal_type=&include_imputed_marker=true``: same
      shape, each point with ``imputed_data_used`` (counted in the notes); start and end are
      inclusive and one request covers at most ~32 days, so longer windows are split into
      30-day chunks (as WattTime's own client does) and duplicates at the seams dropped.
    * ``/v3/signal-index?region=&signal_type=``: the current value as a 0-100 percentile
      of the next 24 h (units ``percentile``), see :meth:`WattTimeProvider.signal_index`.
    * ``/v3/region-from-loc?latitude=&longitude=&signal_type=`` -> ``{"region", ...}``,
      used when the config gives coordinates instead of a region.

Units
    ``co2_moer`` and ``co2_aoer`` come in lbs CO2 per MWh; they are converted to g/kWh
    with ``LBS_PER_MWH_TO_G_PER_KWH`` (1 lb/MWh = 0.45359237 g/kWh).
    ``co2_moer`` is a **marginal** signal, ``co2_aoer`` an **average** one.

Checks
    ``meta.signal_type`` other than the one asked for is refused (ProviderError, so the
    chain falls back); ``meta.region`` other than the one asked for and points computed from
    imputed data are labelled in the series notes (``data-quality: ...``), which the
    report carries. Values outside the physical range are refused (``check_plausible``).

Access
    Without a subscription, /v3/forecast and /v3/historical only answer for ``CAISO_NORTH``;
    other regions give HTTP 403, reported with that hint.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from .base import (
    LBS_PER_MWH_TO_G_PER_KWH,
    IntensityPoint,
    IntensitySeries,
    ProviderError,
    ensure_utc,
)
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
#: What a WattTime region code looks like (``CAISO_NORTH``, ``PJM_DC``, ``IE``).
_REGION_CODE = re.compile(r"[A-Za-z0-9_-]{1,64}")

__all__ = ["PASSWORD_ENV", "USERNAME_ENV", "WattTimeProvider"]

DEFAULT_BASE_URL = "https://api.watttime.org"
USERNAME_ENV = "WATTTIME_USERNAME"
PASSWORD_ENV = "WATTTIME_PASSWORD"
TOKEN_TTL_S = 30 * 60
HISTORICAL_CHUNK = timedelta(days=30)
MAX_HORIZON_H = 72
_SIGNALS = {"co2_moer": "marginal", "co2_aoer": "average"}
_UNIT_FACTORS = {
    "lbs_co2_per_mwh": LBS_PER_MWH_TO_G_PER_KWH,
    "lbs_per_mwh": LBS_PER_MWH_TO_G_PER_KWH,
    "g_co2_per_kwh": 1.0,
    "kg_co2_per_mwh": 1.0,
}
_FIVE_MIN = timedelta(minutes=5)


def _floor5(dt: datetime) -> datetime:
    return dt.replace(minute=dt.minute - dt.minute % 5, second=0, microsecond=0)


class WattTimeProvider(HttpProvider):
    """Grid carbon intensity from WattTime API v3.

    Args:
        region: WattTime region code (e.g. ``"CAISO_NORTH"``); or give ``latitude``/``longitude``.
        signal_type: ``"co2_moer"`` (marginal, default) or ``"co2_aoer"`` (average).
        base_url: API root (default ``https://api.watttime.org``).
        timeout_s, retries, backoff_s, max_total_wait_s, max_wait_s, sleep, session: passed to the
            shared :class:`~sci_lightning.carbon.http.HttpProvider`.
        clock: returns epoch seconds; drives token expiry (tests inject a fake).
        token_ttl_s: token lifetime (WattTime: 30 min); relogin_margin_s: re-login this early.

    Credentials are read from ``WATTTIME_USERNAME`` and ``WATTTIME_PASSWORD`` at the first
    login; a missing one raises :class:`ProviderError` naming it.

    Example::

        p = WattTimeProvider("CAISO_NORTH")
        p.forecast(horizon=timedelta(hours=12))   # 5-min points, g/kWh, kind="forecast"
    """

    DEFAULT_BASE_URL = DEFAULT_BASE_URL
    CREDENTIAL_ENV = (USERNAME_ENV, PASSWORD_ENV)

    name = "watttime"

    def __init__(
        self,
        region: str | None = None,
        *,
        latitude: float | None = None,
        longitude: float | None = None,
        signal_type: str | None = "co2_moer",
        base_url: str | None = None,
        clock: Callable[[], float] = time.time,
        token_ttl_s: float = TOKEN_TTL_S,
        relogin_margin_s: float = 300.0,
        **http: Unpack[HttpOptions],
    ):
        signal_type = signal_type or "co2_moer"
        if signal_type in ("marginal", "average"):
            signal_type = "co2_moer" if signal_type == "marginal" else "co2_aoer"
        if signal_type not in _SIGNALS:
            raise ConfigError(
                f"carbon.signal_type={signal_type!r} is not a WattTime CO2 signal; use co2_moer (marginal, default) "
                "or co2_aoer (average). health_damage is not a carbon intensity."
            )
        region = (region or "").strip()
        if region.lower() == "world":
            region = ""
        if not region and (latitude is None or longitude is None):
            raise ConfigError(
                "WattTime needs carbon.region (a WattTime region code such as CAISO_NORTH) or both "
                "carbon.latitude and carbon.longitude."
            )
        self.wt_signal = signal_type
        self.signal_type = _SIGNALS[signal_type]  # type: ignore[assignment]
        self.region = region
        self.latitude, self.longitude = latitude, longitude
        super().__init__(base_url=base_url, **http)
        self.clock = clock
        self.token_ttl_s = float(token_ttl_s)
        self.relogin_margin_s = float(relogin_margin_s)
        self._token: str | None = None
        self._token_expires_at = 0.0
        self.logins = 0  # how many times we logged in (diagnostics/tests)

    @classmethod
    def config_kwargs(cls, cfg: CarbonConfig) -> dict[str, Any]:
        """region or latitude/longitude, and signal_type."""
        return dict(
            region=cfg.region, latitude=cfg.latitude, longitude=cfg.longitude, signal_type=cfg.signal_type
        )

    def __repr__(self) -> str:  # no credentials, no token
        return f"WattTimeProvider(region={self.region!r}, signal_type={self.wt_signal!r}, base_url={self.base_url!r})"

    # ------------------------------------------------------------------ auth

    def _login(self) -> None:
        username, password = env_credentials(self.name, USERNAME_ENV, PASSWORD_ENV)
        self._http.add_secret(password)
        try:
            body = self._http.get_json("/login", auth=(username, password))
        except HttpStatusError as exc:
            if exc.status in (401, 403):
                raise ProviderError(
                    self.name,
                    f"login refused (HTTP {exc.status}).",
                    f"check {USERNAME_ENV} and {PASSWORD_ENV}; reset the password at WattTime if needed.",
                ) from None
            raise
        token = require(body, "token", str, "login response", self.name)
        if not token:
            raise ProviderError(
                self.name, "login returned an empty token.", f"check {USERNAME_ENV}/{PASSWORD_ENV}."
            )
        self._http.add_secret(token)
        self._token = token
        self._token_expires_at = self.clock() + self.token_ttl_s
        self.logins += 1
        log.debug("watttime: logged in; token valid for %.0f s", self.token_ttl_s)

    def _ensure_token(self) -> str:
        if self._token is None or self.clock() >= self._token_expires_at - self.relogin_margin_s:
            self._login()
        assert self._token is not None
        return self._token

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        """Authenticated GET with one re-login on 401, and WattTime-specific error messages;
        the logins and the data request share one ``carbon.max_total_wait_s`` budget."""
        with self._http.one_budget():
            for attempt in (0, 1):
                token = self._ensure_token()
                try:
                    return self._http.get_json(
                        path, params=params, headers={"Authorization": f"Bearer {token}"}
                    )
                except HttpStatusError as exc:
                    if exc.status == 401 and attempt == 0:
                        log.debug("watttime: 401 on %s; logging in again", path)
                        self._token = None
                        continue
                    raise self._explain(exc, params) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _explain(self, exc: HttpStatusError, params: dict[str, Any]) -> ProviderError:
        region = params.get("region", self.region)
        api = f" WattTime says: {exc.api_message!r}." if exc.api_message else ""
        if exc.status == 403:
            return HttpStatusError(
                self.name,
                403,
                f"no access to region {region!r} / signal {self.wt_signal!r} (HTTP 403).{api}",
                "without a WattTime subscription only CAISO_NORTH is available; use that region, "
                "upgrade the plan, or rely on carbon.fallback.",
                api_message=exc.api_message,
            )
        if exc.status in (400, 404, 422):
            return HttpStatusError(
                self.name,
                exc.status,
                f"request rejected for region {region!r}, signal {self.wt_signal!r} (HTTP {exc.status}).{api}",
                "check carbon.region is a WattTime region code (GET /v3/region-from-loc or /v3/my-access lists "
                "them) and that the time range is valid.",
                api_message=exc.api_message,
            )
        return exc

    # ------------------------------------------------------------------ region

    def region_from_loc(self, latitude: float, longitude: float) -> str:
        """WattTime region code for a location (``/v3/region-from-loc``)."""
        body = self._get(
            "/v3/region-from-loc",
            {"latitude": str(latitude), "longitude": str(longitude), "signal_type": self.wt_signal},
        )
        region = require(body, "region", str, "region-from-loc response", self.name).strip()
        if not _REGION_CODE.fullmatch(region):  # it becomes carbon.region, a query value and report text
            raise ProviderError(
                self.name,
                f"malformed response: region-from-loc gave {self._http.redact(region)[:60]!r}, not a WattTime "
                "region code (letters, digits, '_' and '-').",
                "set carbon.region to the region code instead of coordinates, or check carbon.base_url.",
            )
        return region

    def _region(self) -> str:
        if not self.region:
            self.region = self.region_from_loc(self.latitude, self.longitude)  # type: ignore[arg-type]
        return self.region

    # ------------------------------------------------------------------ parsing

    def _parse(self, body: Any, what: str) -> tuple[list[IntensityPoint], dict[str, Any]]:
        data = require(body, "data", list, f"{what} response", self.name)
        meta = require(body, "meta", dict, f"{what} response", self.name)
        self._check_signal(meta, what)
        units = meta.get("units", "lbs_co2_per_mwh")
        if units not in _UNIT_FACTORS:
            raise ProviderError(
                self.name,
                f"malformed response: {what} units {units!r} are not a carbon intensity this client understands.",
                "use signal_type co2_moer or co2_aoer.",
            )
        factor = _UNIT_FACTORS[units]
        period_s = meta.get("data_point_period_seconds", 300)
        expect_type(period_s, (int, float), f"{what} meta.data_point_period_seconds", self.name)
        if period_s <= 0:
            raise ProviderError(
                self.name, f"malformed response: {what} data_point_period_seconds={period_s}."
            )
        period = timedelta(seconds=float(period_s))
        seen: dict[datetime, IntensityPoint] = {}
        imputed = 0
        for i, item in enumerate(data):
            t = parse_time(
                require(item, "point_time", str, f"{what} data[{i}]", self.name),
                f"{what} data[{i}].point_time",
                self.name,
            )
            v = require(item, "value", (int, float), f"{what} data[{i}]", self.name)
            if not math.isfinite(v):
                raise ProviderError(self.name, f"malformed response: {what} data[{i}].value is {v!r}.")
            imputed += item.get("imputed_data_used") is True
            seen[t] = IntensityPoint(t, t + period, float(v) * factor)
        meta["_imputed_points"] = imputed
        return sorted(seen.values(), key=lambda p: p.start), meta

    def _check_signal(self, meta: dict[str, Any], what: str) -> None:
        """Refuse data for another signal than asked (marginal vs average changes its meaning)."""
        self._refuse_other_kind(
            "signal_type",
            meta.get("signal_type"),
            self.wt_signal,
            f"the {what} response",
            "check carbon.signal_type and that carbon.base_url is WattTime's API.",
        )

    def _notes(self, meta: dict[str, Any]) -> list[str]:
        units = meta.get("units", "lbs_co2_per_mwh")
        factor = _UNIT_FACTORS.get(units, LBS_PER_MWH_TO_G_PER_KWH)
        how = "already in gCO2/kWh" if factor == 1 else f"converted from {units} to gCO2/kWh (x {factor})"
        notes = [f"WattTime {self.wt_signal} ({self.signal_type}); {how}."]
        notes += self._served_note("WattTime", "region", meta.get("region"))
        if meta.get("_imputed_points"):
            notes.append(
                f"data-quality: {meta['_imputed_points']} point(s) were computed by WattTime's backup model "
                "from imputed data (imputed_data_used=true), lower quality than the default model."
            )
        model = meta.get("model")
        if isinstance(model, dict) and model.get("date"):
            notes.append(f"model {model.get('date')}.")
        warns = meta.get("warnings")
        if isinstance(warns, list) and warns:
            notes.append(f"WattTime warnings: {warns}")
        return notes

    # ------------------------------------------------------------------ API

    def forecast(
        self, start: datetime | None = None, horizon: timedelta = timedelta(hours=24)
    ) -> IntensitySeries:
        """The latest WattTime forecast (5-min points), limited to [start, start + horizon).

        The API only serves the most recent forecast, so ``start`` (default: now) selects
        within it; horizons beyond 72 h are truncated by the API.
        """
        start = (
            ensure_utc(start, "start")
            if start is not None
            else datetime.fromtimestamp(self.clock(), timezone.utc)
        )
        end = start + horizon
        now = datetime.fromtimestamp(self.clock(), timezone.utc)
        hours = max(0, min(MAX_HORIZON_H, math.ceil((end - now).total_seconds() / 3600)))
        region = self._region()
        body = self._get(
            "/v3/forecast", {"region": region, "signal_type": self.wt_signal, "horizon_hours": hours}
        )
        points, meta = self._parse(body, "forecast")
        generated = meta.get("generated_at")
        generated_at = parse_time(generated, "forecast meta.generated_at", self.name) if generated else None
        points = [p for p in points if p.end > start and p.start < end]
        notes = self._notes(meta)
        if not points:
            notes.append("the forecast had no points in the requested window.")
        return self._checked(
            IntensitySeries(
                points,
                f"WattTime API v3 /v3/forecast ({self.base_url})",
                region,
                self.signal_type,
                "forecast",
                generated_at=generated_at,
                notes=notes,
            )
        )

    def history(self, start: datetime, end: datetime) -> IntensitySeries:
        """Measured (historical) points overlapping [start, end), fetched in <= 30-day chunks."""
        start, end = ensure_utc(start, "start"), ensure_utc(end, "end")
        region = self._region()
        points: dict[datetime, IntensityPoint] = {}
        meta: dict[str, Any] = {}
        t = _floor5(start)  # include the 5-min point covering `start`
        while t < end:
            chunk_end = min(end, t + HISTORICAL_CHUNK)
            body = self._get(
                "/v3/historical",
                {
                    "region": region,
                    "start": format_time(t),
                    "end": format_time(chunk_end),
                    "signal_type": self.wt_signal,
                    "include_imputed_marker": "true",
                },
            )
            pts, meta = self._parse(body, "historical")
            for p in pts:
                points[p.start] = p
            t = chunk_end
        result = [
            p for p in sorted(points.values(), key=lambda p: p.start) if p.end > start and p.start < end
        ]
        notes = self._notes(meta) if meta else []
        if not result:
            notes.append("WattTime returned no data for the requested window.")
        return self._checked(
            IntensitySeries(
                result,
                f"WattTime API v3 /v3/historical ({self.base_url})",
                region,
                self.signal_type,
                "measured",
                notes=notes,
            )
        )

    def current(self) -> IntensityPoint:
        """The latest measured 5-min value (last 30 min of history), else the forecast's first point."""
        now = datetime.fromtimestamp(self.clock(), timezone.utc)
        series = self.history(now - timedelta(minutes=30), now)
        if series.points:
            return series.points[-1]
        fc = self.forecast(now, timedelta(hours=1))
        if fc.points:
            return fc.points[0]
        raise ProviderError(self.name, f"no recent data for region {self.region!r}.", "check carbon.region.")

    def signal_index(self) -> tuple[datetime, float]:
        """``(point_time, percentile)``: where now sits (0 = cleanest, 100 = dirtiest) in the next 24 h."""
        body = self._get("/v3/signal-index", {"region": self._region(), "signal_type": self.wt_signal})
        data = require(body, "data", list, "signal-index response", self.name)
        if not data:
            raise ProviderError(self.name, "signal-index returned no data.", "check carbon.region.")
        item = data[0]
        t = parse_time(
            require(item, "point_time", str, "signal-index data[0]", self.name),
            "signal-index point_time",
            self.name,
        )
        return t, float(require(item, "value", (int, float), "signal-index data[0]", self.name))
