"""WattTimeProvider against a loopback stub of WattTime API v3 (login, forecast, historical,
signal-index, region-from-loc). The stub validates paths, query params and auth headers and
answers 4xx when they are wrong, as the real API does."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest
from clocks import ScriptClock, Sleeps
from stub_server import StubResponse, StubServer, basic_auth

from sci_lightning.carbon.base import LBS_PER_MWH_TO_G_PER_KWH, ProviderError
from sci_lightning.carbon.http import HttpStatusError
from sci_lightning.carbon.watttime import WattTimeProvider
from sci_lightning.errors import ConfigError
from sci_lightning.settings import CarbonConfig

USER, PASSWORD = "alice", "pw-Secret-4242"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")


class WattTimeStub:
    """State of a fake WattTime: issued tokens, which are valid, and the data to serve."""

    def __init__(self, regions=("CAISO_NORTH",), lbs_values=(1000.0, 800.0, 900.0, 700.0)):
        self.regions = set(regions)
        self.lbs_values = list(lbs_values)
        self.valid_tokens: set[str] = set()
        self.counter = itertools.count(1)
        self.fail_next: list[StubResponse] = []  # responses to return before real ones (any data route)
        self.forecast_body_override = None
        self.historical_calls: list[dict] = []

    def routes(self):
        return {
            ("GET", "/login"): self.login,
            ("GET", "/v3/forecast"): self.forecast,
            ("GET", "/v3/historical"): self.historical,
            ("GET", "/v3/signal-index"): self.signal_index,
            ("GET", "/v3/region-from-loc"): self.region_from_loc,
        }

    def login(self, req):
        if basic_auth(req) != (USER, PASSWORD):
            return StubResponse(401, {"error": "invalid credentials"})
        tok = f"tok{next(self.counter)}"
        self.valid_tokens.add(tok)
        return {"token": tok}

    def _auth(self, req):
        h = req.header("authorization") or ""
        if not h.startswith("Bearer ") or h[7:] not in self.valid_tokens:
            return StubResponse(401, {"error": "Unauthorized", "message": "token expired or invalid"})
        return None

    def _check(self, req, required):
        bad = self._auth(req)
        if bad:
            return bad
        if self.fail_next:
            return self.fail_next.pop(0)
        for k in required:
            if not req.arg(k):
                return StubResponse(400, {"error": f"missing parameter {k}"})
        if req.arg("signal_type") not in ("co2_moer", "co2_aoer"):
            return StubResponse(400, {"error": f"invalid signal_type {req.arg('signal_type')}"})
        region = req.arg("region")
        if region is not None and region not in self.regions:
            if region == "PJM_ROANOKE":
                return StubResponse(
                    403, {"error": "Forbidden", "message": "Your account does not have access to PJM_ROANOKE"}
                )
            return StubResponse(400, {"error": "Bad Request", "message": f"Invalid region {region}"})
        return None

    def _body(self, start: datetime, n: int, region: str):
        return {
            "data": [
                {
                    "point_time": iso(start + timedelta(minutes=5 * i)),
                    "value": self.lbs_values[i % len(self.lbs_values)],
                }
                for i in range(n)
            ],
            "meta": {
                "data_point_period_seconds": 300,
                "region": region,
                "signal_type": "co2_moer",
                "units": "lbs_co2_per_mwh",
                "generated_at": iso(start),
                "model": {"date": "2023-03-01"},
                "warnings": [],
            },
        }

    def forecast(self, req):
        bad = self._check(req, ["region", "signal_type"])
        if bad:
            return bad
        if self.forecast_body_override is not None:
            return self.forecast_body_override
        h = int(req.arg("horizon_hours", "24"))
        if not 0 <= h <= 72:
            return StubResponse(400, {"error": "horizon_hours must be between 0 and 72"})
        return self._body(T0, max(1, h * 12), req.arg("region"))

    def historical(self, req):
        bad = self._check(req, ["region", "start", "end", "signal_type"])
        if bad:
            return bad
        start = datetime.fromisoformat(req.arg("start").replace("Z", "+00:00"))
        end = datetime.fromisoformat(req.arg("end").replace("Z", "+00:00"))
        if end - start > timedelta(days=32):
            return StubResponse(400, {"error": "time range too long (max 32 days)"})
        self.historical_calls.append({"start": start, "end": end})
        n = int((end - start).total_seconds() // 300) + 1  # inclusive end, like the real API
        return self._body(start, n, req.arg("region"))

    def signal_index(self, req):
        bad = self._check(req, ["region", "signal_type"])
        if bad:
            return bad
        return {
            "data": [{"point_time": iso(T0), "value": 37.0}],
            "meta": {"units": "percentile", "data_point_period_seconds": 300, "region": req.arg("region")},
        }

    def region_from_loc(self, req):
        bad = self._check(req, ["latitude", "longitude", "signal_type"])
        if bad:
            return bad
        if abs(float(req.arg("latitude")) - 37.77) < 1:
            return {
                "region": "CAISO_NORTH",
                "region_full_name": "California ISO Northern",
                "signal_type": "co2_moer",
            }
        return StubResponse(404, {"error": "no region found for location"})


@pytest.fixture
def creds(monkeypatch):
    monkeypatch.setenv("WATTTIME_USERNAME", USER)
    monkeypatch.setenv("WATTTIME_PASSWORD", PASSWORD)


@pytest.fixture
def wt():
    stub = WattTimeStub()
    with StubServer(stub.routes()) as srv:
        yield stub, srv


def make(srv, **kw) -> WattTimeProvider:
    kw.setdefault("region", "CAISO_NORTH")
    kw.setdefault("sleep", Sleeps())
    kw.setdefault("clock", ScriptClock(T0.timestamp()))
    return WattTimeProvider(base_url=srv.url, **kw)


def test_forecast_converts_lbs_per_mwh_to_g_per_kwh(creds, wt):
    stub, srv = wt
    p = make(srv)
    s = p.forecast(T0, timedelta(hours=1))
    assert s.kind == "forecast" and s.signal_type == "marginal" and s.region == "CAISO_NORTH"
    assert len(s.points) == 12
    # 1000 lbs/MWh = 453.59237 g/kWh exactly
    assert s.points[0].g_per_kwh == pytest.approx(453.59237, rel=1e-12)
    assert s.points[1].g_per_kwh == pytest.approx(800 * 0.45359237, rel=1e-12)
    assert LBS_PER_MWH_TO_G_PER_KWH == 0.45359237
    assert s.points[0].start == T0 and s.points[0].end == T0 + timedelta(minutes=5)
    assert s.generated_at == T0
    fc = [r for r in srv.requests if r.path == "/v3/forecast"][0]
    assert (
        fc.arg("region") == "CAISO_NORTH"
        and fc.arg("signal_type") == "co2_moer"
        and fc.arg("horizon_hours") == "1"
    )
    assert srv.errors == []


def test_login_once_and_bearer_reused(creds, wt):
    stub, srv = wt
    p = make(srv)
    p.forecast(T0, timedelta(hours=1))
    p.forecast(T0, timedelta(hours=1))
    assert srv.count("GET", "/login") == 1 and p.logins == 1
    assert all(r.header("authorization") == "Bearer tok1" for r in srv.requests if r.path.startswith("/v3/"))


def test_expired_token_401_triggers_relogin(creds, wt):
    stub, srv = wt
    p = make(srv)
    p.forecast(T0, timedelta(hours=1))
    stub.valid_tokens.clear()  # server-side expiry
    s = p.forecast(T0, timedelta(hours=1))
    assert len(s.points) == 12
    assert srv.count("GET", "/login") == 2
    last = [r for r in srv.requests if r.path == "/v3/forecast"]
    assert [r.header("authorization") for r in last] == ["Bearer tok1", "Bearer tok1", "Bearer tok2"]


def test_proactive_relogin_before_30_minutes(creds, wt):
    stub, srv = wt
    clock = ScriptClock(T0.timestamp())
    p = make(srv, clock=clock)
    p.forecast(T0, timedelta(hours=1))
    clock.advance(20 * 60)  # still fresh (30 min - 5 min margin = 25 min)
    p.forecast(T0, timedelta(hours=1))
    assert srv.count("GET", "/login") == 1
    clock.advance(6 * 60)  # 26 min after login: inside the margin -> new token before any 401
    p.forecast(T0, timedelta(hours=1))
    assert srv.count("GET", "/login") == 2
    codes = [r.header("authorization") for r in srv.requests if r.path == "/v3/forecast"]
    assert codes == ["Bearer tok1", "Bearer tok1", "Bearer tok2"]  # no request was refused


def test_bad_credentials(monkeypatch, wt):
    stub, srv = wt
    monkeypatch.setenv("WATTTIME_USERNAME", USER)
    monkeypatch.setenv("WATTTIME_PASSWORD", "wrong-password-xyz")
    p = make(srv)
    with pytest.raises(ProviderError) as ei:
        p.forecast(T0)
    msg = str(ei.value)
    assert "login refused" in msg and "WATTTIME_PASSWORD" in msg
    assert "wrong-password-xyz" not in msg and "wrong-password-xyz" not in repr(p)


def test_missing_credentials_names_variables(monkeypatch, wt):
    stub, srv = wt
    monkeypatch.delenv("WATTTIME_USERNAME", raising=False)
    monkeypatch.delenv("WATTTIME_PASSWORD", raising=False)
    p = make(srv)  # constructing is fine: credentials are needed at the first request
    with pytest.raises(ProviderError) as ei:
        p.history(T0, T0 + timedelta(minutes=10))
    assert "WATTTIME_USERNAME" in str(ei.value) and "WATTTIME_PASSWORD" in str(ei.value)
    assert srv.requests == []


def test_429_retry_after_is_waited(creds, wt):
    stub, srv = wt
    stub.fail_next = [StubResponse(429, {"error": "rate limit"}, headers={"Retry-After": "4"})]
    sleeps = Sleeps()
    p = make(srv, sleep=sleeps)
    s = p.forecast(T0, timedelta(hours=1))
    assert len(s.points) == 12 and sleeps == [4.0]


def test_5xx_then_success(creds, wt):
    stub, srv = wt
    stub.fail_next = [StubResponse(502, body="bad gateway"), StubResponse(503, body="unavailable")]
    sleeps = Sleeps()
    p = make(srv, sleep=sleeps, backoff_s=0.5)
    assert len(p.forecast(T0, timedelta(hours=1)).points) == 12
    assert sleeps == [0.5, 1.0]


def test_unknown_region_400(creds, wt):
    stub, srv = wt
    p = make(srv, region="NOT_A_REGION")
    with pytest.raises(HttpStatusError) as ei:
        p.forecast(T0)
    msg = str(ei.value)
    assert ei.value.status == 400 and "NOT_A_REGION" in msg and "Invalid region NOT_A_REGION" in msg
    assert "region-from-loc" in msg  # the fix tells how to find valid regions


def test_region_without_access_403(creds, wt):
    stub, srv = wt
    p = make(srv, region="PJM_ROANOKE")
    with pytest.raises(HttpStatusError) as ei:
        p.history(T0, T0 + timedelta(minutes=30))
    assert ei.value.status == 403 and "CAISO_NORTH" in str(ei.value) and "no access" in str(ei.value)


@pytest.mark.parametrize(
    "body,needle",
    [
        ({"meta": {}}, "no 'data' key"),
        ({"data": [{"point_time": "2024-05-01T12:00:00Z"}], "meta": {}}, "no 'value' key"),
        (
            {"data": [{"point_time": "2024-05-01T12:00:00Z", "value": "high"}], "meta": {}},
            "should be int/float",
        ),
        ({"data": [{"point_time": "noon", "value": 1}], "meta": {}}, "ISO-8601"),
        ({"data": "x", "meta": {}}, "should be list"),
        ({"data": [], "meta": {"units": "percentile"}}, "units"),
    ],
)
def test_malformed_bodies(creds, wt, body, needle):
    stub, srv = wt
    stub.forecast_body_override = body
    with pytest.raises(ProviderError, match=needle):
        make(srv).forecast(T0)


def test_empty_data_gives_empty_series_with_note(creds, wt):
    stub, srv = wt
    stub.forecast_body_override = {
        "data": [],
        "meta": {"units": "lbs_co2_per_mwh", "data_point_period_seconds": 300},
    }
    s = make(srv).forecast(T0)
    assert s.points == [] and any("no points" in n for n in s.notes)


def test_history_splits_long_ranges_and_dedupes_seams(creds, wt):
    stub, srv = wt
    p = make(srv)
    start, end = T0, T0 + timedelta(days=45)
    s = p.history(start, end)
    assert len(stub.historical_calls) == 2
    assert all(c["end"] - c["start"] <= timedelta(days=30) for c in stub.historical_calls)
    assert s.kind == "measured"
    assert len(s.points) == 45 * 24 * 12  # 5-min points, no duplicate at the 30-day seam
    assert all(b.start == a.end for a, b in zip(s.points, s.points[1:]))
    assert s.points[0].start == start and s.points[-1].end == end


def test_history_short_window_floors_to_5_min(creds, wt):
    stub, srv = wt
    s = make(srv).history(T0 + timedelta(minutes=2), T0 + timedelta(minutes=4))
    assert len(s.points) == 1 and s.points[0].start == T0  # the 5-min point covering the window
    req = [r for r in srv.requests if r.path == "/v3/historical"][0]
    assert req.arg("start") == "2024-05-01T12:00:00Z" and req.arg("end") == "2024-05-01T12:04:00Z"


def test_signal_index_and_region_from_loc(creds, wt):
    stub, srv = wt
    p = make(srv, region=None, latitude=37.77, longitude=-122.4)
    t, pct = p.signal_index()
    assert (t, pct) == (T0, 37.0)
    assert p.region == "CAISO_NORTH"
    loc = [r for r in srv.requests if r.path == "/v3/region-from-loc"][0]
    assert (
        loc.arg("latitude") == "37.77"
        and loc.arg("longitude") == "-122.4"
        and loc.arg("signal_type") == "co2_moer"
    )


def test_co2_aoer_is_average():
    p = WattTimeProvider("CAISO_NORTH", signal_type="co2_aoer")
    assert p.signal_type == "average"
    with pytest.raises(ConfigError, match="co2_moer"):
        WattTimeProvider("CAISO_NORTH", signal_type="health_damage")
    with pytest.raises(ConfigError, match="latitude"):
        WattTimeProvider(None)


def test_secret_never_in_errors_or_repr(creds, wt):
    stub, srv = wt
    p = make(srv, region="PJM_ROANOKE")
    # a misbehaving API that echoes the credentials back in its error text
    stub.regions.add("PJM_ROANOKE")
    stub.fail_next = [StubResponse(400, {"message": f"bad request from {USER}:{PASSWORD} with Bearer tok1"})]
    with pytest.raises(ProviderError) as ei:
        p.forecast(T0)
    echoed = str(ei.value)
    assert "***" in echoed and PASSWORD not in echoed and "tok1" not in echoed
    stub.regions.discard("PJM_ROANOKE")
    errors = [echoed]
    for call in (lambda: p.forecast(T0), lambda: p.history(T0, T0 + timedelta(minutes=5))):
        with pytest.raises(ProviderError) as ei:
            call()
        errors.append(str(ei.value) + repr(ei.value))
    text = " ".join(errors) + repr(p) + repr(p._http)
    assert PASSWORD not in text
    assert "tok1" not in text  # the bearer token neither


def test_from_config(creds, wt):
    stub, srv = wt
    cfg = CarbonConfig(provider="watttime", region="CAISO_NORTH", base_url=srv.url, retries=0)
    p = WattTimeProvider.from_config(cfg, clock=ScriptClock(T0.timestamp()))
    assert p.wt_signal == "co2_moer" and p._http.retries == 0
    assert len(p.forecast(T0, timedelta(minutes=30)).points) == 6
