"""CarbonAwareSdkProvider against a loopback stub of the GSF Carbon Aware SDK WebAPI."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from clocks import Sleeps
from stub_server import StubResponse, StubServer

from sci_lightning.carbon.base import ProviderError
from sci_lightning.carbon.carbon_aware_sdk import CarbonAwareSdkProvider, parse_timespan
from sci_lightning.carbon.http import HttpStatusError
from sci_lightning.errors import ConfigError
from sci_lightning.settings import CarbonConfig

T0 = datetime(2024, 7, 19, 14, 0, tzinfo=timezone.utc)
LOCATIONS = {"westus", "eastus"}


def iso(dt: datetime) -> str:
    return dt.isoformat()


def problem(status: int, title: str, errors: dict | None = None) -> StubResponse:
    """ASP.NET ValidationProblemDetails, as the WebAPI answers errors."""
    body = {"type": "https://tools.ietf.org/html/rfc7231#section-6.5.1", "title": title, "status": status}
    if errors:
        body["errors"] = errors
    return StubResponse(status, body, content_type="application/problem+json")


class SdkStub:
    def __init__(self):
        self.values = [300.0, 250.0, 200.0, 275.0, 320.0, 180.0]
        self.override = {}

    def routes(self):
        return {
            ("GET", "/emissions/bylocation"): self.bylocation,
            ("GET", "/emissions/forecasts/current"): self.forecast,
            ("GET", "/emissions/average-carbon-intensity"): self.average,
        }

    def _loc(self, req):
        loc = req.arg("location")
        if not loc:
            return problem(
                400,
                "One or more validation errors occurred.",
                {"location": ["The location field is required."]},
            )
        if loc not in LOCATIONS:
            return problem(400, f"Location '{loc}' not found")
        return None

    def bylocation(self, req):
        if "bylocation" in self.override:
            return self.override["bylocation"]
        bad = self._loc(req)
        if bad:
            return bad
        start = datetime.fromisoformat(req.arg("time").replace("Z", "+00:00"))
        end = datetime.fromisoformat(req.arg("toTime").replace("Z", "+00:00"))
        out, t, i = [], start, 0
        while t < end:
            out.append(
                {
                    "location": "CAISO_NORTH",
                    "time": iso(t),
                    "rating": self.values[i % 6],
                    "duration": "00:05:00",
                }
            )
            t += timedelta(minutes=5)
            i += 1
        return out

    def forecast(self, req):
        if "forecast" in self.override:
            return self.override["forecast"]
        bad = self._loc(req)
        if bad:
            return bad
        data = [
            {
                "location": "CAISO_NORTH",
                "timestamp": iso(T0 + timedelta(minutes=5 * i)),
                "duration": 5,
                "value": self.values[i % 6],
            }
            for i in range(24 * 12)
        ]
        lo = req.arg("dataStartAt")
        hi = req.arg("dataEndAt")
        if lo:
            lo_t = datetime.fromisoformat(lo.replace("Z", "+00:00"))
            hi_t = datetime.fromisoformat(hi.replace("Z", "+00:00"))
            if lo_t < T0:
                return problem(400, "dataStartAt must be within the forecast data")
            data = [d for d in data if lo_t <= datetime.fromisoformat(d["timestamp"]) < hi_t]
        ws = int(req.arg("windowSize", "5"))
        best = min(data, key=lambda d: d["value"])
        return [
            {
                "requestedAt": iso(T0),
                "generatedAt": iso(T0 - timedelta(minutes=2)),
                "location": req.arg("location"),
                "dataStartAt": lo,
                "dataEndAt": hi,
                "windowSize": ws,
                "optimalDataPoints": [
                    {
                        "location": "CAISO_NORTH",
                        "timestamp": best["timestamp"],
                        "duration": ws,
                        "value": best["value"],
                    }
                ],
                "forecastData": data,
            }
        ]

    def average(self, req):
        bad = self._loc(req)
        if bad:
            return bad
        if not req.arg("startTime") or not req.arg("endTime"):
            return problem(400, "startTime and endTime are required")
        return {
            "location": req.arg("location"),
            "startTime": req.arg("startTime"),
            "endTime": req.arg("endTime"),
            "carbonIntensity": 345.434,
        }


@pytest.fixture
def sdk():
    stub = SdkStub()
    with StubServer(stub.routes()) as srv:
        yield stub, srv


def make(srv, location="westus", **kw):
    kw.setdefault("sleep", Sleeps())
    return CarbonAwareSdkProvider(location, base_url=srv.url, **kw)


def test_base_url_required_with_clear_message():
    with pytest.raises(ConfigError, match="carbon.base_url is required"):
        CarbonAwareSdkProvider("westus", base_url=None)
    with pytest.raises(ConfigError, match="carbon.base_url is required"):
        CarbonAwareSdkProvider.from_config(CarbonConfig(provider="carbon_aware_sdk", region="westus"))


def test_history_bylocation(sdk):
    stub, srv = sdk
    s = make(srv).history(T0, T0 + timedelta(minutes=30))
    assert s.kind == "measured" and s.signal_type == "marginal" and s.region == "westus"
    assert [p.g_per_kwh for p in s.points] == stub.values
    assert s.points[0].end - s.points[0].start == timedelta(minutes=5)  # TimeSpan "00:05:00" read
    req = srv.requests[-1]
    assert req.arg("location") == "westus" and req.arg("time") == "2024-07-19T14:00:00Z"
    assert req.arg("toTime") == "2024-07-19T14:30:00Z"


def test_forecast_with_optimal(sdk):
    stub, srv = sdk
    series, optimal = make(srv).forecast_with_optimal(T0, timedelta(hours=2), window_size_min=30)
    assert series.kind == "forecast" and len(series.points) == 24
    assert series.generated_at == T0 - timedelta(minutes=2)
    assert all(b.start == a.end for a, b in zip(series.points, series.points[1:]))
    assert optimal == [
        {
            "location": "CAISO_NORTH",
            "start": T0 + timedelta(minutes=25),
            "duration_min": 30.0,
            "g_per_kwh": 180.0,
        }
    ]
    req = srv.requests[-1]
    assert req.arg("dataStartAt") == "2024-07-19T14:00:00Z" and req.arg("dataEndAt") == "2024-07-19T16:00:00Z"
    assert req.arg("windowSize") == "30"


def test_forecast_without_start_requests_whole_forecast(sdk):
    stub, srv = sdk
    s = make(srv).forecast(horizon=timedelta(hours=100 * 24 * 365))  # everything from now on
    req = srv.requests[-1]
    assert req.arg("dataStartAt") is None and req.arg("windowSize") is None
    assert isinstance(s.points, list)  # the stub's 2024 data is in the past: filtered out
    assert s.points == [] and any("no points" in n for n in s.notes)


def test_legacy_single_optimal_data_point(sdk):
    stub, srv = sdk
    stub.override["forecast"] = [
        {
            "generatedAt": iso(T0),
            "location": "westus",
            "optimalDataPoint": {"location": "IE", "timestamp": iso(T0), "duration": 10, "value": 448.4},
            "forecastData": [{"location": "IE", "timestamp": iso(T0), "duration": 10, "value": 448.4}],
        }
    ]
    series, optimal = make(srv).forecast_with_optimal(T0, timedelta(hours=1))
    assert optimal[0]["g_per_kwh"] == 448.4 and series.points[0].end == T0 + timedelta(minutes=10)


def test_average(sdk):
    stub, srv = sdk
    assert make(srv, "eastus").average(T0, T0 + timedelta(hours=4)) == 345.434
    req = srv.requests[-1]
    assert req.path == "/emissions/average-carbon-intensity"
    assert req.arg("startTime") == "2024-07-19T14:00:00Z" and req.arg("endTime") == "2024-07-19T18:00:00Z"


def test_unknown_location(sdk):
    stub, srv = sdk
    with pytest.raises(HttpStatusError) as ei:
        make(srv, "marsnorth").history(T0, T0 + timedelta(hours=1))
    msg = str(ei.value)
    assert ei.value.status == 400 and "marsnorth" in msg and "Location 'marsnorth' not found" in msg
    assert "GET /locations" in msg


def test_validation_problem_details_quoted(sdk):
    stub, srv = sdk
    stub.override["bylocation"] = problem(
        400, "One or more validation errors occurred.", {"time": ["bad date"]}
    )
    with pytest.raises(HttpStatusError, match="bad date"):
        make(srv).history(T0, T0 + timedelta(hours=1))


@pytest.mark.parametrize(
    "body,needle",
    [
        ({"not": "a list"}, "should be list"),
        ([{"location": "x", "rating": 1}], "no 'time' key"),
        ([{"location": "x", "time": "2024-07-19T14:00:00Z", "rating": "low"}], "should be int/float"),
        (
            [{"location": "x", "time": "2024-07-19T14:00:00Z", "rating": 1, "duration": "five minutes"}],
            "duration",
        ),
    ],
)
def test_malformed_history(sdk, body, needle):
    stub, srv = sdk
    stub.override["bylocation"] = body
    with pytest.raises(ProviderError, match=needle):
        make(srv).history(T0, T0 + timedelta(hours=1))


def test_malformed_forecast_and_empty(sdk):
    stub, srv = sdk
    stub.override["forecast"] = [{"location": "westus"}]
    with pytest.raises(ProviderError, match="forecastData"):
        make(srv).forecast(T0)
    stub.override["forecast"] = []
    with pytest.raises(ProviderError, match="no forecast"):
        make(srv).forecast(T0)
    stub.override["bylocation"] = []
    s = make(srv).history(T0, T0 + timedelta(hours=1))
    assert s.points == [] and any("no data" in n for n in s.notes)


def test_retries_429_then_503(sdk):
    stub, srv = sdk
    seq = [StubResponse(429, {}, headers={"Retry-After": "2"}), StubResponse(503, body="down")]
    orig = stub.bylocation
    srv.routes[("GET", "/emissions/bylocation")] = lambda r: seq.pop(0) if seq else orig(r)
    sleeps = Sleeps()
    s = make(srv, sleep=sleeps, backoff_s=0.25).history(T0, T0 + timedelta(minutes=10))
    assert len(s.points) == 2 and sleeps == [2.0, 0.5]


def test_parse_duration():
    assert parse_timespan("00:05:00", "d", "p") == timedelta(minutes=5)
    assert parse_timespan("1.02:00:00", "d", "p") == timedelta(days=1, hours=2)
    assert parse_timespan("00:00:30.5000000", "d", "p") == timedelta(seconds=30.5)
    assert parse_timespan(60, "d", "p") == timedelta(hours=1)
    assert parse_timespan(0, "d", "p") is None and parse_timespan(None, "d", "p") is None
    with pytest.raises(ProviderError):
        parse_timespan(True, "d", "p")


def test_signal_type_and_location_validation():
    with pytest.raises(ConfigError, match="marginal"):
        CarbonAwareSdkProvider("westus", base_url="http://127.0.0.1:1", signal_type="co2_moer")
    with pytest.raises(ConfigError, match="location"):
        CarbonAwareSdkProvider("world", base_url="http://127.0.0.1:1")
    p = CarbonAwareSdkProvider("westus", base_url="http://127.0.0.1:1", signal_type="average")
    assert p.signal_type == "average"
