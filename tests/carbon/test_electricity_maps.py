"""ElectricityMapsProvider against a loopback stub of the Electricity Maps API v3.

The stub checks what the real API checks (path, the ``auth-token`` header, ``zone`` or
``lat``/``lon``, the past-range span limit) and answers with the API's shapes, including
its ``{"error": "..."}`` error bodies.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from clocks import Sleeps
from stub_server import StubResponse, StubServer

from sci_lightning.carbon.base import IntensitySeries, ProviderError
from sci_lightning.carbon.electricity_maps import TOKEN_ENV, ElectricityMapsProvider
from sci_lightning.carbon.http import HttpStatusError
from sci_lightning.errors import ConfigError
from sci_lightning.settings import CarbonConfig

TOKEN = "em-test-token-5f2c9a7e41"
NOW = datetime(2024, 3, 6, 12, 20, tzinfo=timezone.utc)
KNOWN_ZONES = {"DE", "FR"}
UTC = timezone.utc


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _value(ts: datetime) -> int:
    return 300 + ts.hour * 5 + ts.day


def _row(zone: str, ts: datetime, estimated: bool = False) -> dict:
    return {
        "zone": zone,
        "carbonIntensity": _value(ts),
        "datetime": _iso(ts),
        "updatedAt": _iso(NOW),
        "createdAt": _iso(ts),
        "emissionFactorType": "lifecycle",
        "isEstimated": estimated,
        "estimationMethod": "TIME_SLICER_AVERAGE" if estimated else None,
    }


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _check(req) -> tuple[str | None, StubResponse | None]:
    """Validate auth and location like the API; return (zone, error-response)."""
    if req.header("auth-token") != TOKEN:
        return None, StubResponse(401, {"error": "Invalid auth-token"})
    if req.arg("shouldUseFallbackCallerLookup") != "false":
        return None, StubResponse(400, {"error": "stub: expected shouldUseFallbackCallerLookup=false"})
    if req.arg("lat") is not None or req.arg("lon") is not None:
        lat, lon = float(req.arg("lat")), float(req.arg("lon"))
        if req.arg("zone") is not None:
            return None, StubResponse(400, {"error": "stub: both zone and lat/lon sent"})
        return ("DE" if 47 <= lat <= 55 and 5 <= lon <= 15 else None), None
    zone = req.arg("zone")
    if zone is None:
        return None, StubResponse(400, {"error": "zone or lat/lon is required"})
    if zone not in KNOWN_ZONES:
        return None, StubResponse(404, {"error": f"Zone '{zone}' does not exist."})
    return zone, None


def latest(req):
    zone, err = _check(req)
    if err:
        return err
    ts = NOW.replace(minute=0, second=0)
    return _row(zone, ts, estimated=True)


def history(req):
    zone, err = _check(req)
    if err:
        return err
    top = NOW.replace(minute=0, second=0)
    rows = [_row(zone, top - timedelta(hours=h), estimated=(h < 2)) for h in range(23, -1, -1)]
    return {"zone": zone, "history": rows}


def past_range(req):
    zone, err = _check(req)
    if err:
        return err
    try:
        start, end = _parse(req.arg("start")), _parse(req.arg("end"))
    except (TypeError, ValueError):
        return StubResponse(400, {"error": "start and end must be ISO 8601 datetimes"})
    if end - start > timedelta(days=10):
        return StubResponse(400, {"error": "The maximum range is 10 days for hourly granularity"})
    rows, ts = [], start
    while ts <= end:  # the API includes the end hour: the provider must de-duplicate
        rows.append(_row(zone, ts))
        ts += timedelta(hours=1)
    return {"zone": zone, "temporalGranularity": "hourly", "data": rows}


def forecast(req):
    zone, err = _check(req)
    if err:
        return err
    top = NOW.replace(minute=0, second=0)
    rows = [
        {"carbonIntensity": _value(top + timedelta(hours=h)), "datetime": _iso(top + timedelta(hours=h))}
        for h in range(0, 72)
    ]
    return {"zone": zone, "forecast": rows, "updatedAt": "2024-03-06T11:46:10.233Z"}


ROUTES = {
    ("GET", "/v3/carbon-intensity/latest"): latest,
    ("GET", "/v3/carbon-intensity/history"): history,
    ("GET", "/v3/carbon-intensity/past-range"): past_range,
    ("GET", "/v3/carbon-intensity/forecast"): forecast,
}


@pytest.fixture
def srv():
    with StubServer(ROUTES) as server:
        yield server
        assert server.errors == []


@pytest.fixture(autouse=True)
def token_env(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


def make(srv, zone="DE", **kw) -> tuple[ElectricityMapsProvider, Sleeps]:
    sleeps = Sleeps()
    kw.setdefault("retries", 2)
    return ElectricityMapsProvider(
        zone, base_url=srv.url, sleep=sleeps, now=lambda: NOW, timeout_s=5, **kw
    ), sleeps


def assert_no_token(*objs) -> None:
    for obj in objs:
        assert TOKEN not in str(obj)
        assert TOKEN not in repr(obj)


# ---------------------------------------------------------------- happy paths


def test_current_uses_latest_with_auth_header(srv):
    provider, sleeps = make(srv)
    point = provider.current()
    assert point.start == datetime(2024, 3, 6, 12, tzinfo=UTC)
    assert point.end - point.start == timedelta(hours=1)
    assert point.g_per_kwh == _value(point.start)
    req = srv.requests[-1]
    assert req.path == "/v3/carbon-intensity/latest"
    assert req.arg("zone") == "DE" and req.arg("emissionFactorType") == "lifecycle"
    assert sleeps == []


def test_recent_history_uses_free_history_endpoint_and_clips(srv):
    provider, _ = make(srv)
    start, end = datetime(2024, 3, 6, 2, 30, tzinfo=UTC), datetime(2024, 3, 6, 8, tzinfo=UTC)
    series = provider.history(start, end)
    assert isinstance(series, IntensitySeries)
    assert srv.count("GET", "/v3/carbon-intensity/history") == 1
    assert srv.count("GET", "/v3/carbon-intensity/past-range") == 0
    # hours overlapping [02:30, 08:00): 02,03,...,07
    assert [p.start.hour for p in series.points] == [2, 3, 4, 5, 6, 7]
    assert all(p.end - p.start == timedelta(hours=1) for p in series.points)
    assert series.points[0].g_per_kwh == _value(series.points[0].start)
    assert series.kind == "measured" and series.signal_type == "average"
    assert series.source == "Electricity Maps" and series.region == "DE"
    assert any("Electricity Maps" in n and "credit" in n for n in series.notes)
    assert all(p.start.tzinfo is not None and p.start.utcoffset() == timedelta(0) for p in series.points)


def test_history_notes_count_estimated_values(srv):
    provider, _ = make(srv)
    series = provider.history(NOW - timedelta(hours=5), NOW)
    # the stub marks the two newest hours as estimated
    assert any(n.startswith("2 of ") and "TIME_SLICER_AVERAGE" in n for n in series.notes), series.notes


def test_old_history_uses_past_range_in_chunks_of_at_most_10_days(srv):
    provider, _ = make(srv)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=25)
    series = provider.history(start, end)
    calls = [r for r in srv.requests if r.path == "/v3/carbon-intensity/past-range"]
    assert len(calls) == 3
    spans = [(_parse(r.arg("start")), _parse(r.arg("end"))) for r in calls]
    assert spans[0][0] == start and spans[-1][1] == end
    assert all(b - a <= timedelta(days=10) for a, b in spans)
    assert all(spans[i][1] == spans[i + 1][0] for i in range(len(spans) - 1))
    # one point per hour, no duplicates at the chunk joins
    assert len(series.points) == 25 * 24
    starts = [p.start for p in series.points]
    assert starts == sorted(set(starts))
    assert series.kind == "measured"


def test_forecast_is_clipped_to_horizon_and_labelled(srv):
    provider, _ = make(srv)
    series = provider.forecast(horizon=timedelta(hours=6))
    assert series.kind == "forecast"
    assert series.generated_at == datetime(2024, 3, 6, 11, 46, 10, 233000, tzinfo=UTC)
    # now = 12:20 -> hours overlapping [12:20, 18:20): 12..18
    assert [p.start.hour for p in series.points] == [12, 13, 14, 15, 16, 17, 18]
    assert series.source == "Electricity Maps"


def test_lat_lon_replace_zone(srv):
    sleeps = Sleeps()
    provider = ElectricityMapsProvider(
        latitude=52.52, longitude=13.405, base_url=srv.url, sleep=sleeps, now=lambda: NOW
    )
    point = provider.current()
    req = srv.requests[-1]
    assert req.arg("zone") is None
    assert float(req.arg("lat")) == 52.52 and float(req.arg("lon")) == 13.405
    assert point.g_per_kwh > 0
    assert provider.region == "lat=52.52,lon=13.405"


def test_from_config_uses_carbon_config_fields(srv):
    cfg = CarbonConfig(
        provider="electricity_maps", region="FR", base_url=srv.url, timeout_s=3.0, retries=1, backoff_s=0.25
    )
    sleeps = Sleeps()
    provider = ElectricityMapsProvider.from_config(cfg, sleep=sleeps, now=lambda: NOW)
    assert provider.region == "FR"
    assert (
        provider._http.retries == 1 and provider._http.timeout_s == 3.0 and provider._http.backoff_s == 0.25
    )
    provider.current()
    assert srv.requests[-1].arg("zone") == "FR"


def test_from_config_direct_emission_factors(srv):
    cfg = CarbonConfig(provider="electricity_maps", region="DE", base_url=srv.url, signal_type="direct")
    provider = ElectricityMapsProvider.from_config(cfg, sleep=Sleeps(), now=lambda: NOW)
    # the stub serves lifecycle values whatever is asked: refused, not reported as direct
    with pytest.raises(ProviderError, match="emissionFactorType 'lifecycle', not the 'direct' asked for"):
        provider.current()
    assert srv.requests[-1].arg("emissionFactorType") == "direct"


# ---------------------------------------------------------------- configuration errors


def test_missing_token_names_the_variable(monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(ProviderError, match=TOKEN_ENV):
        ElectricityMapsProvider("DE", base_url="http://127.0.0.1:9")


@pytest.mark.parametrize("region", ["world", "", None])
def test_no_zone_and_no_coordinates_is_a_config_error(region):
    with pytest.raises(ConfigError, match="carbon.region"):
        ElectricityMapsProvider.from_config(CarbonConfig(provider="electricity_maps", region=region))


def test_half_given_coordinates_is_a_config_error():
    with pytest.raises(ConfigError, match="latitude and carbon.longitude"):
        ElectricityMapsProvider("DE", latitude=50.0)


def test_marginal_signal_is_refused():
    with pytest.raises(ConfigError, match="average"):
        ElectricityMapsProvider.from_config(
            CarbonConfig(provider="electricity_maps", region="DE", signal_type="marginal")
        )


# ---------------------------------------------------------------- API errors


def test_bad_token_401_names_the_variable_and_hides_the_token(srv, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "wrong-token-value-123")
    provider, sleeps = make(srv)
    with pytest.raises(HttpStatusError) as info:
        provider.current()
    exc = info.value
    assert exc.status == 401
    assert TOKEN_ENV in str(exc) and "Invalid auth-token" in str(exc)
    assert "wrong-token-value-123" not in str(exc) and "wrong-token-value-123" not in repr(provider)
    assert sleeps == []  # 401 is not retried
    assert srv.count("GET", "/v3/carbon-intensity/latest") == 1


def test_unknown_zone_quotes_the_api_message(srv):
    provider, _ = make(srv, zone="XX")
    with pytest.raises(HttpStatusError) as info:
        provider.history(NOW - timedelta(hours=3), NOW)
    assert info.value.status == 404
    text = str(info.value)
    assert "Zone 'XX' does not exist." in text and "carbon.region" in text and "/v3/zones" in text


def test_forbidden_forecast_explains_the_plan(srv):
    srv.routes[("GET", "/v3/carbon-intensity/forecast")] = lambda req: StubResponse(
        403, {"error": "Your API key does not have access to this endpoint"}
    )
    provider, _ = make(srv)
    with pytest.raises(HttpStatusError) as info:
        provider.forecast()
    assert info.value.status == 403
    assert "commercial plan" in str(info.value) and "does not have access" in str(info.value)


def test_429_with_retry_after_then_success(srv):
    calls = []

    def flaky(req):
        calls.append(1)
        if len(calls) == 1:
            return StubResponse(429, {"error": "Too many requests"}, headers={"Retry-After": "7"})
        return latest(req)

    srv.routes[("GET", "/v3/carbon-intensity/latest")] = flaky
    provider, sleeps = make(srv)
    point = provider.current()
    assert point.g_per_kwh == _value(point.start)
    assert sleeps == [7.0]
    assert len(calls) == 2


def test_5xx_is_retried_then_reported(srv):
    srv.routes[("GET", "/v3/carbon-intensity/latest")] = lambda req: StubResponse(
        503, {"error": "upstream down"}
    )
    provider, sleeps = make(srv, retries=2, backoff_s=0.5)
    with pytest.raises(HttpStatusError) as info:
        provider.current()
    assert info.value.status == 503
    assert srv.count("GET", "/v3/carbon-intensity/latest") == 3
    assert sleeps == [0.5, 1.0]
    assert "carbon.fallback" in str(info.value)


@pytest.mark.parametrize(
    "body",
    [
        StubResponse(200, body="<html>maintenance</html>", content_type="text/html"),
        StubResponse(200, {"zone": "DE", "data": []}),  # no "history" key
        StubResponse(
            200,
            {"zone": "DE", "history": [{"carbonIntensity": "high", "datetime": "2024-03-06T10:00:00.000Z"}]},
        ),
        StubResponse(200, {"zone": "DE", "history": [{"carbonIntensity": 300, "datetime": "yesterday"}]}),
        StubResponse(200, {"zone": "DE", "history": "none"}),
    ],
)
def test_malformed_body_is_a_provider_error(srv, body):
    srv.routes[("GET", "/v3/carbon-intensity/history")] = lambda req: body
    provider, _ = make(srv)
    with pytest.raises(ProviderError, match="malformed"):
        provider.history(NOW - timedelta(hours=2), NOW)


def test_empty_history_gives_an_empty_series(srv):
    srv.routes[("GET", "/v3/carbon-intensity/history")] = lambda req: {"zone": "DE", "history": []}
    provider, _ = make(srv)
    series = provider.history(NOW - timedelta(hours=2), NOW)
    assert series.points == [] and series.kind == "measured"


def test_null_values_are_left_out_and_noted(srv):
    def gappy(req):
        body = history(req)
        body["history"][-1]["carbonIntensity"] = None
        return body

    srv.routes[("GET", "/v3/carbon-intensity/history")] = gappy
    provider, _ = make(srv)
    series = provider.history(NOW - timedelta(hours=3), NOW)
    assert [p.start.hour for p in series.points] == [9, 10, 11]
    assert any("null carbonIntensity" in n for n in series.notes)


def test_null_latest_is_a_provider_error(srv):
    srv.routes[("GET", "/v3/carbon-intensity/latest")] = lambda req: {**latest(req), "carbonIntensity": None}
    provider, _ = make(srv)
    with pytest.raises(ProviderError, match="no current intensity"):
        provider.current()


# ---------------------------------------------------------------- secrets


def test_token_never_in_repr_or_errors_even_when_echoed(srv):
    provider, _ = make(srv)
    assert_no_token(provider, provider._http)
    # a server that echoes the token back in its error body
    srv.routes[("GET", "/v3/carbon-intensity/latest")] = lambda req: StubResponse(
        401, {"error": f"token {req.header('auth-token')} revoked"}
    )
    srv.routes[("GET", "/v3/carbon-intensity/forecast")] = lambda req: StubResponse(
        500, {"error": f"crash for {req.header('auth-token')}"}
    )
    errors = []
    for call in (provider.current, provider.forecast):
        with pytest.raises(ProviderError) as info:
            call()
        errors.append(info.value)
    for exc in errors:
        assert_no_token(exc, exc.args, getattr(exc, "api_message", ""), exc.fix)
        assert "***" in str(exc)
    # the stub did receive the token: the redaction is ours, not a missing header
    assert srv.requests[-1].header("auth-token") == TOKEN
