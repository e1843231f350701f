"""UkGridProvider against a loopback stub of GB's Carbon Intensity API.

The stub implements the documented routes (national and regional, by region id and by
outward postcode), the ``YYYY-MM-DDThh:mmZ`` path times, the 14-day range limit and the
API's ``{"error": {"code", "message"}}`` error bodies. It also reproduces two quirks of
the real service: a range starting at ``from`` also returns the half-hour that *ends* at
``from``, and a range crossing 1 January loses the new year's data.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from clocks import Sleeps
from stub_server import StubResponse, StubServer

from sci_lightning.carbon.base import ProviderError
from sci_lightning.carbon.http import HttpStatusError
from sci_lightning.carbon.uk_grid import UkGridProvider, parse_region
from sci_lightning.errors import ConfigError
from sci_lightning.settings import CarbonConfig

UTC = timezone.utc
NOW = datetime(2024, 3, 6, 12, 10, tzinfo=UTC)
#: half-hours starting before this have a published national "actual"
ACTUAL_UNTIL = datetime(2024, 3, 6, 11, 0, tzinfo=UTC)
POSTCODES = {"RG10": (12, "South England"), "SW1": (13, "London"), "E1": (13, "London")}
SHORTNAMES = {13: "London", 12: "South England", 3: "North West England"}
HH = timedelta(minutes=30)
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}Z$")


def bad_request(message: str) -> StubResponse:
    return StubResponse(400, {"error": {"code": "400 Bad Request", "message": message}})


def fmt(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%MZ")


def forecast_value(ts: datetime, region: int = 0) -> int:
    return 150 + ts.hour * 3 + (ts.minute // 30) + region


def actual_value(ts: datetime) -> int:
    return forecast_value(ts) - 7


def national_row(ts: datetime) -> dict:
    actual = actual_value(ts) if ts < ACTUAL_UNTIL else None
    return {
        "from": fmt(ts),
        "to": fmt(ts + HH),
        "intensity": {"forecast": forecast_value(ts), "actual": actual, "index": "moderate"},
    }


def regional_row(ts: datetime, region: int) -> dict:
    return {
        "from": fmt(ts),
        "to": fmt(ts + HH),
        "intensity": {"forecast": forecast_value(ts, region), "index": "moderate"},
        "generationmix": [{"fuel": "gas", "perc": 40.1}, {"fuel": "wind", "perc": 59.9}],
    }


def parse_path_time(text: str) -> datetime | StubResponse:
    if not TIME_RE.match(text):
        return bad_request(f"Please enter a valid datetime in ISO8601 format YYYY-MM-DDThh:mmZ, got {text}")
    return datetime.strptime(text, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)


def half_hours(frm: datetime, to: datetime) -> list[datetime]:
    """The rows the API returns for {from}/{to}: from the half-hour ending at ``from`` up to ``to``."""
    first = frm.replace(minute=0 if frm.minute < 30 else 30)
    if first == frm:
        first -= HH  # quirk: the period ending at `from` is included
    out, ts = [], first
    while ts < to:
        out.append(ts)
        ts += HH
    if frm.year != (to - HH).year:  # quirk: ranges crossing new year lose the new year's data
        out = [t for t in out if t.year == frm.year]
    return out


def resolve_region(kind: str, key: str) -> tuple[int, str] | StubResponse:
    if kind == "regionid":
        if not key.isdigit() or not 1 <= int(key) <= 17:
            return bad_request("Please enter a valid region ID (1-17)")
        return int(key), SHORTNAMES.get(int(key), f"Region {key}")
    if key not in POSTCODES:
        return bad_request("Please enter a valid postcode i.e. RG10 or SW1")
    return POSTCODES[key]


def api(req):
    """One handler for the whole (path-templated) API."""
    path = req.path
    if req.header("accept") != "application/json":
        return bad_request("stub: expected Accept: application/json")
    if path == "/intensity":
        ts = NOW.replace(minute=0 if NOW.minute < 30 else 30)
        return {"data": [national_row(ts)]}
    m = re.fullmatch(r"/regional/(regionid|postcode)/([^/]+)", path)
    if m:
        reg = resolve_region(*m.groups())
        if isinstance(reg, StubResponse):
            return reg
        ts = NOW.replace(minute=0 if NOW.minute < 30 else 30)
        entry = {
            "regionid": reg[0],
            "dnoregion": "DNO",
            "shortname": reg[1],
            "data": [regional_row(ts, reg[0])],
        }
        if m.group(1) == "postcode":
            entry["postcode"] = m.group(2)
        return {"data": [entry]}
    m = re.fullmatch(r"(/regional)?/intensity/([^/]+)/([^/]+)(?:/(regionid|postcode)/([^/]+))?", path)
    if not m:
        return StubResponse(
            404, {"error": {"code": "404 Not Found", "message": "Requested resource not found."}}
        )
    regional, frm_text, to_text, kind, key = m.groups()
    if bool(regional) != bool(kind):
        return StubResponse(
            404, {"error": {"code": "404 Not Found", "message": "Requested resource not found."}}
        )
    frm = parse_path_time(frm_text)
    if isinstance(frm, StubResponse):
        return frm
    if to_text in ("fw24h", "fw48h"):
        first = frm.replace(minute=0 if frm.minute < 30 else 30)
        hours = 24 if to_text == "fw24h" else 48
        stamps = [first + i * HH for i in range(hours * 2)]
    else:
        to = parse_path_time(to_text)
        if isinstance(to, StubResponse):
            return to
        if to <= frm:
            return bad_request("The 'to' datetime must be after the 'from' datetime")
        if to - frm > timedelta(days=14):
            return bad_request("The maximum date range is limited to 14 days")
        stamps = half_hours(frm, to)
    if not regional:
        return {"data": [national_row(ts) for ts in stamps]}
    reg = resolve_region(kind, key)
    if isinstance(reg, StubResponse):
        return reg
    entry = {
        "regionid": reg[0],
        "dnoregion": "DNO",
        "shortname": reg[1],
        "data": [regional_row(ts, reg[0]) for ts in stamps],
    }
    if kind == "postcode":
        entry["postcode"] = key
        return {"data": [entry]}  # postcode ranges: list-wrapped, as the docs show
    return {"data": entry}  # regionid ranges: a bare object, as the live API answers


class AnyPath(dict):
    """Route table that sends every GET to one handler (the API's paths carry parameters)."""

    def __init__(self, handler):
        super().__init__()
        self.handler = handler

    def get(self, key, default=None):
        return self.handler if key[0] == "GET" else default


@pytest.fixture
def srv():
    server = StubServer()
    server.routes = AnyPath(api)
    with server:
        yield server
        assert server.errors == []


def make(srv, region="GB", **kw) -> tuple[UkGridProvider, Sleeps]:
    sleeps = Sleeps()
    kw.setdefault("retries", 2)
    return UkGridProvider(region, base_url=srv.url, sleep=sleeps, now=lambda: NOW, timeout_s=5, **kw), sleeps


def paths(srv) -> list[str]:
    return [r.path for r in srv.requests]


# ---------------------------------------------------------------- region parsing


@pytest.mark.parametrize(
    "region, expected",
    [
        ("GB", ("national", None)),
        ("national", ("national", None)),
        (13, ("regionid", "13")),
        ("17", ("regionid", "17")),
        ("London", ("regionid", "13")),
        ("rg10", ("postcode", "RG10")),
        ("SW1A 1AA", ("postcode", "SW1A")),
    ],
)
def test_parse_region(region, expected):
    assert parse_region(region) == expected


@pytest.mark.parametrize("region", ["world", "", None, 0, 18, "Atlantis", "12345"])
def test_bad_region_is_a_config_error(region):
    with pytest.raises(ConfigError, match="carbon.region"):
        UkGridProvider(region)


# ---------------------------------------------------------------- national


def test_national_current_uses_actual_when_published(srv):
    provider, sleeps = make(srv)
    point = provider.current()
    assert paths(srv) == ["/intensity"]
    assert point.start == datetime(2024, 3, 6, 12, 0, tzinfo=UTC) and point.end - point.start == HH
    # 12:00 has no actual yet in the stub -> forecast
    assert point.g_per_kwh == forecast_value(point.start)
    assert sleeps == []


def test_national_history_path_format_clipping_and_labels(srv):
    provider, _ = make(srv)
    start, end = datetime(2024, 3, 6, 9, 0, tzinfo=UTC), datetime(2024, 3, 6, 12, 0, tzinfo=UTC)
    series = provider.history(start, end)
    assert paths(srv) == ["/intensity/2024-03-06T09:00Z/2024-03-06T12:00Z"]
    # the stub also sends 08:30-09:00 (ends at `from`): it must be clipped away
    assert [p.start for p in series.points] == [start + i * HH for i in range(6)]
    assert all(p.end - p.start == HH for p in series.points)
    values = [p.g_per_kwh for p in series.points]
    # 09:00..10:30 have actuals, 11:00 and 11:30 only forecasts
    assert values[:4] == [actual_value(start + i * HH) for i in range(4)]
    assert values[4:] == [forecast_value(start + i * HH) for i in (4, 5)]
    assert series.kind == "measured" and series.signal_type == "average" and series.region == "GB"
    assert any("4 of 6" in n and "forecast" in n for n in series.notes), series.notes
    assert any("CC BY 4.0" in n for n in series.notes)


def test_history_all_actual_is_labelled_measured(srv):
    provider, _ = make(srv)
    series = provider.history(datetime(2024, 3, 5, 0, tzinfo=UTC), datetime(2024, 3, 5, 6, tzinfo=UTC))
    assert len(series.points) == 12 and series.kind == "measured"
    assert any("All values are the API's estimated actual" in n for n in series.notes)


def test_unaligned_window_is_widened_to_half_hours_then_clipped(srv):
    provider, _ = make(srv)
    series = provider.history(
        datetime(2024, 3, 5, 10, 10, tzinfo=UTC), datetime(2024, 3, 5, 11, 5, tzinfo=UTC)
    )
    assert paths(srv) == ["/intensity/2024-03-05T10:00Z/2024-03-05T11:30Z"]
    assert [p.start.strftime("%H:%M") for p in series.points] == ["10:00", "10:30", "11:00"]


def test_national_forecast_uses_forecast_values_fw24h(srv):
    provider, _ = make(srv)
    series = provider.forecast(horizon=timedelta(hours=3))
    assert paths(srv) == ["/intensity/2024-03-06T12:00Z/fw24h"]
    assert series.kind == "forecast"
    # now = 12:10 -> half-hours overlapping [12:10, 15:10): 12:00 .. 15:00
    assert len(series.points) == 7
    assert series.points[0].start == datetime(2024, 3, 6, 12, 0, tzinfo=UTC)
    assert all(p.g_per_kwh == forecast_value(p.start) for p in series.points)


def test_forecast_from_past_start_ignores_actuals(srv):
    provider, _ = make(srv)
    start = datetime(2024, 3, 6, 8, 0, tzinfo=UTC)  # actuals exist here, but this is a forecast series
    series = provider.forecast(start, timedelta(hours=1))
    assert [p.g_per_kwh for p in series.points] == [forecast_value(start), forecast_value(start + HH)]


def test_long_forecast_uses_fw48h_and_caps_at_48h(srv):
    provider, _ = make(srv)
    series = provider.forecast(horizon=timedelta(hours=72))
    assert paths(srv) == ["/intensity/2024-03-06T12:00Z/fw48h"]
    assert series.points[-1].end <= NOW + timedelta(hours=48) + HH
    assert any("48 h" in n for n in series.notes)


# ---------------------------------------------------------------- regional


def test_regional_history_by_region_id_is_forecast_only(srv):
    provider, _ = make(srv, region=13)
    start, end = datetime(2024, 3, 5, 0, tzinfo=UTC), datetime(2024, 3, 5, 2, tzinfo=UTC)
    series = provider.history(start, end)
    assert paths(srv) == ["/regional/intensity/2024-03-05T00:00Z/2024-03-05T02:00Z/regionid/13"]
    assert [p.g_per_kwh for p in series.points] == [forecast_value(start + i * HH, 13) for i in range(4)]
    assert series.kind == "forecast"  # no regional actuals exist
    assert series.region == "GB-region-13"
    assert any("forecast-only" in n for n in series.notes)
    assert any("London" in n for n in series.notes)


def test_regional_history_by_postcode_list_shape(srv):
    provider, _ = make(srv, region="RG10")
    series = provider.history(datetime(2024, 3, 5, 0, tzinfo=UTC), datetime(2024, 3, 5, 1, tzinfo=UTC))
    assert paths(srv) == ["/regional/intensity/2024-03-05T00:00Z/2024-03-05T01:00Z/postcode/RG10"]
    assert len(series.points) == 2 and series.points[0].g_per_kwh == forecast_value(
        series.points[0].start, 12
    )
    assert provider.region_name == "South England"


def test_regional_forecast_and_current(srv):
    provider, _ = make(srv, region="london")
    series = provider.forecast(horizon=timedelta(hours=30))
    assert paths(srv)[-1] == "/regional/intensity/2024-03-06T12:00Z/fw48h/regionid/13"
    assert series.kind == "forecast" and len(series.points) == 61
    point = provider.current()
    assert paths(srv)[-1] == "/regional/regionid/13"
    assert point.g_per_kwh == forecast_value(point.start, 13)


def test_postcode_current(srv):
    provider, _ = make(srv, region="SW1")
    point = provider.current()
    assert paths(srv) == ["/regional/postcode/SW1"]
    assert point.g_per_kwh == forecast_value(point.start, 13)


# ---------------------------------------------------------------- chunking


def test_long_history_is_chunked_within_the_14_day_limit(srv):
    provider, _ = make(srv)
    start, end = datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 3, 2, tzinfo=UTC)  # 30 days
    series = provider.history(start, end)
    calls = paths(srv)
    assert len(calls) >= 3
    spans = []
    for p in calls:
        _, _, a, b = p.split("/")
        spans.append(
            (
                datetime.strptime(a, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC),
                datetime.strptime(b, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC),
            )
        )
    assert spans[0][0] == start and spans[-1][1] == end
    assert all(b - a <= timedelta(days=14) for a, b in spans)
    assert all(spans[i][1] == spans[i + 1][0] for i in range(len(spans) - 1))
    # every half-hour exactly once although each chunk re-sends the period ending at its `from`
    assert len(series.points) == 30 * 48
    assert [p.start for p in series.points] == [start + i * HH for i in range(30 * 48)]
    assert any("requests" in n for n in series.notes)


def test_chunks_split_at_new_year(srv):
    provider, _ = make(srv, region=3)
    start, end = datetime(2023, 12, 30, tzinfo=UTC), datetime(2024, 1, 3, tzinfo=UTC)
    series = provider.history(start, end)
    # the stub drops new-year rows from ranges that cross 1 January: none may be missing
    assert len(series.points) == 4 * 48
    assert any(p.start.year == 2024 for p in series.points)
    new_year = datetime(2024, 1, 1, tzinfo=UTC)
    for p in paths(srv):
        a, b = (datetime.strptime(t, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC) for t in p.split("/")[3:5])
        assert not (a < new_year < b), f"request {p} crosses 1 January"


# ---------------------------------------------------------------- errors


def test_unknown_postcode_quotes_the_api_message(srv):
    provider, _ = make(srv, region="ZZ9")
    with pytest.raises(HttpStatusError) as info:
        provider.history(datetime(2024, 3, 5, tzinfo=UTC), datetime(2024, 3, 5, 1, tzinfo=UTC))
    text = str(info.value)
    assert info.value.status == 400
    assert "Please enter a valid postcode" in text and "carbon.region" in text and "RG10" in text


def test_429_with_retry_after_then_success(srv):
    calls = []

    def flaky(req):
        calls.append(req.path)
        if len(calls) == 1:
            return StubResponse(
                429, {"error": {"code": "429", "message": "slow down"}}, headers={"Retry-After": "3"}
            )
        return api(req)

    srv.routes = AnyPath(flaky)
    provider, sleeps = make(srv)
    point = provider.current()
    assert point.g_per_kwh > 0
    assert sleeps == [3.0] and len(calls) == 2


def test_500_is_retried_then_reported(srv):
    srv.routes = AnyPath(
        lambda req: StubResponse(
            500, {"error": {"code": "500 Internal Server Error", "message": "Requested resource not found."}}
        )
    )
    provider, sleeps = make(srv, retries=2, backoff_s=0.25)
    with pytest.raises(HttpStatusError) as info:
        provider.current()
    assert info.value.status == 500 and len(srv.requests) == 3
    assert sleeps == [0.25, 0.5]


@pytest.mark.parametrize(
    "body",
    [
        StubResponse(200, body="not json"),
        {"data": [{"from": "2024-03-06T12:00Z", "to": "2024-03-06T12:30Z"}]},  # no intensity
        {
            "data": [
                {"from": "2024-03-06T12:00Z", "to": "2024-03-06T12:30Z", "intensity": {"forecast": "high"}}
            ]
        },
        {"data": [{"from": "noon", "to": "2024-03-06T12:30Z", "intensity": {"forecast": 1}}]},
        {"data": {"from": "2024-03-06T12:00Z"}},  # national data must be a list
        {"result": []},
    ],
)
def test_malformed_body_is_a_provider_error(srv, body):
    srv.routes = AnyPath(lambda req: body)
    provider, _ = make(srv)
    with pytest.raises(ProviderError, match="malformed"):
        provider.current()


def test_error_body_with_200_status_is_reported(srv):
    srv.routes = AnyPath(
        lambda req: {
            "error": {"code": "500 Internal Server Error", "message": "Requested resource not found."}
        }
    )
    provider, _ = make(srv)
    with pytest.raises(ProviderError, match="Requested resource not found"):
        provider.history(datetime(2024, 3, 5, tzinfo=UTC), datetime(2024, 3, 5, 1, tzinfo=UTC))


def test_regional_entry_without_data_is_malformed(srv):
    srv.routes = AnyPath(lambda req: {"data": {"regionid": 13, "shortname": "London"}})
    provider, _ = make(srv, region=13)
    with pytest.raises(ProviderError, match="malformed"):
        provider.history(datetime(2024, 3, 5, tzinfo=UTC), datetime(2024, 3, 5, 1, tzinfo=UTC))


def test_empty_data(srv):
    srv.routes = AnyPath(lambda req: {"data": []})
    provider, _ = make(srv)
    series = provider.history(datetime(2024, 3, 5, tzinfo=UTC), datetime(2024, 3, 5, 1, tzinfo=UTC))
    assert series.points == []
    assert any("no data" in n for n in series.notes)
    with pytest.raises(ProviderError, match="no current intensity"):
        provider.current()


def test_naive_times_are_refused(srv):
    provider, _ = make(srv)
    with pytest.raises(ValueError, match="timezone"):
        provider.history(datetime(2024, 3, 5), datetime(2024, 3, 5, 1))


# ---------------------------------------------------------------- config


def test_from_config(srv):
    cfg = CarbonConfig(
        provider="uk_grid", region="13", base_url=srv.url, timeout_s=2.0, retries=4, backoff_s=0.1
    )
    provider = UkGridProvider.from_config(cfg, sleep=Sleeps(), now=lambda: NOW)
    assert provider.scope == "regionid" and provider.key == "13"
    assert provider._http.retries == 4 and provider._http.timeout_s == 2.0 and provider._http.backoff_s == 0.1
    assert provider.current().g_per_kwh == forecast_value(datetime(2024, 3, 6, 12, 0, tzinfo=UTC), 13)
    assert repr(provider) == f"UkGridProvider(region='GB-region-13', base_url='{srv.url}')"


def test_from_config_refuses_marginal_signal():
    with pytest.raises(ConfigError, match="average"):
        UkGridProvider.from_config(CarbonConfig(provider="uk_grid", region="GB", signal_type="marginal"))
