"""Each provider reads its vendor's own published example responses (tests/fixtures/providers/,
sources credited in each folder's SOURCE.md), served from a loopback stub, and gives the
values a person computes by hand from them (the computation is in each test's comments)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from stub_server import StubResponse, StubServer

from sci_lightning.carbon.base import ProviderError
from sci_lightning.carbon.carbon_aware_sdk import CarbonAwareSdkProvider
from sci_lightning.carbon.chain import FallbackProvider, ProviderFallbackWarning
from sci_lightning.carbon.electricity_maps import TOKEN_ENV, ElectricityMapsProvider
from sci_lightning.carbon.static import StaticProvider
from sci_lightning.carbon.uk_grid import UkGridProvider
from sci_lightning.carbon.watttime import PASSWORD_ENV, USERNAME_ENV, WattTimeProvider
from sci_lightning.energy.base import EnergyInterval
from sci_lightning.sci.compute import integrate_operational_g

UTC = timezone.utc
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"
LB_G = 0.45359237  # 1 lb/MWh = 453.59237 g / 1000 kWh


def example(provider: str, name: str):
    return json.loads((FIXTURES / provider / name).read_text(encoding="utf-8"))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def no_sleep(_s: float) -> None:
    pass


def test_every_fixture_folder_credits_its_source():
    for folder in FIXTURES.iterdir():
        text = (folder / "SOURCE.md").read_text(encoding="utf-8")
        assert "http" in text and ("licen" in text.lower()), folder


# ---------------------------------------------------------------- WattTime v3


def watttime(srv: StubServer, clock_at: datetime, **kw) -> WattTimeProvider:
    return WattTimeProvider("CAISO_NORTH", base_url=srv.url, sleep=no_sleep, clock=clock_at.timestamp, **kw)


@pytest.fixture
def wt_env(monkeypatch):
    monkeypatch.setenv(USERNAME_ENV, "doc-user")
    monkeypatch.setenv(PASSWORD_ENV, "doc-password-1234")


def wt_routes(path: str, body):
    return {("GET", "/login"): lambda req: {"token": "doc-token-abcdef"}, ("GET", path): lambda req: body}


def test_watttime_historical_example(wt_env):
    body = example("watttime", "historical_co2_moer.json")
    with StubServer(wt_routes("/v3/historical", body)) as srv:
        series = watttime(srv, utc(2022, 7, 16)).history(utc(2022, 7, 15, 0, 0), utc(2022, 7, 15, 0, 10))
        req = srv.requests[-1]
    # 870 lbs/MWh x 0.45359237 = 394.6253619 g/kWh over 00:00-00:05 (data_point_period_seconds 300);
    # 860 lbs/MWh x 0.45359237 = 390.0894382 g/kWh over 00:05-00:10
    assert [(p.start, p.end) for p in series.points] == [
        (utc(2022, 7, 15, 0, 0), utc(2022, 7, 15, 0, 5)),
        (utc(2022, 7, 15, 0, 5), utc(2022, 7, 15, 0, 10)),
    ]
    assert [p.g_per_kwh for p in series.points] == pytest.approx([394.6253619, 390.0894382], abs=1e-7)
    assert req.arg("signal_type") == "co2_moer" and req.arg("include_imputed_marker") == "true"
    assert series.signal_type == "marginal" and series.kind == "measured"
    assert any("model 2023-03-01" in n for n in series.notes)
    assert any("EXAMPLE_WARNING" in n for n in series.notes)
    # 1 kWh spread evenly over 00:00-00:10: 0.5 x 394.6253619 + 0.5 x 390.0894382 = 392.3574 g
    timeline = [EnergyInterval(utc(2022, 7, 15, 0, 0), utc(2022, 7, 15, 0, 10), 3.6e6)]
    assert integrate_operational_g(timeline, series.points)[0] == pytest.approx(392.35740005, abs=1e-6)


def test_watttime_forecast_example(wt_env):
    body = example("watttime", "forecast_co2_moer.json")
    with StubServer(wt_routes("/v3/forecast", body)) as srv:
        series = watttime(srv, utc(2022, 7, 15)).forecast(utc(2022, 7, 15), timedelta(hours=1))
    # 1048.4131919701972 x 0.45359237 = 475.55222... ; 1051.0880801214637 x 0.45359237 = 476.76553...
    assert [p.g_per_kwh for p in series.points] == pytest.approx(
        [1048.4131919701972 * LB_G, 1051.0880801214637 * LB_G], rel=1e-12
    )
    assert series.points[0].g_per_kwh == pytest.approx(475.5522, abs=1e-3)
    assert series.generated_at == utc(2022, 7, 15) and series.kind == "forecast"


def test_watttime_imputed_example_is_labelled(wt_env):
    body = example("watttime", "historical_co2_aoer_imputed.json")
    with StubServer(wt_routes("/v3/historical", body)) as srv:
        p = WattTimeProvider(
            "CAISO_NORTH",
            signal_type="co2_aoer",
            base_url=srv.url,
            sleep=no_sleep,
            clock=utc(2023, 10, 27).timestamp,
        )
        series = p.history(utc(2023, 10, 26, 14), utc(2023, 10, 26, 15))
    # one hourly point (data_point_period_seconds 3600): 1267.717268507 x 0.45359237 = 575.0267... g/kWh
    assert len(series.points) == 1 and series.points[0].end - series.points[0].start == timedelta(hours=1)
    assert series.points[0].g_per_kwh == pytest.approx(1267.717268507 * LB_G, rel=1e-12)
    assert series.signal_type == "average"
    assert any("data-quality: 1 point(s)" in n and "imputed" in n for n in series.notes)


def test_watttime_other_signal_than_asked_is_refused(wt_env):
    body = example("watttime", "historical_co2_aoer_imputed.json")  # meta.signal_type co2_aoer
    with (
        StubServer(wt_routes("/v3/historical", body)) as srv,
        pytest.raises(ProviderError, match="signal_type 'co2_aoer', not the 'co2_moer' asked for"),
    ):
        watttime(srv, utc(2023, 10, 27)).history(utc(2023, 10, 26, 14), utc(2023, 10, 26, 15))


def test_watttime_other_region_than_asked_is_labelled(wt_env):
    body = example("watttime", "historical_co2_moer.json")
    with StubServer(wt_routes("/v3/historical", body)) as srv:
        p = WattTimeProvider("CAISO", base_url=srv.url, sleep=no_sleep, clock=utc(2022, 7, 16).timestamp)
        series = p.history(utc(2022, 7, 15, 0, 0), utc(2022, 7, 15, 0, 10))
    assert any("served region 'CAISO_NORTH' for the requested 'CAISO'" in n for n in series.notes)


# ---------------------------------------------------------------- Carbon Aware SDK


def test_sdk_bylocation_example_point_without_duration():
    with StubServer(
        {("GET", "/emissions/bylocation"): lambda req: example("carbon_aware_sdk", "bylocation.json")}
    ) as srv:
        p = CarbonAwareSdkProvider("eastus", base_url=srv.url, sleep=no_sleep)
        series = p.history(utc(2022, 5, 17, 20, 0), utc(2022, 5, 17, 22, 0))
    # one point, 70 g/kWh, no duration and no neighbour: it lasts default_duration (1 h), said so
    t = datetime(2022, 5, 17, 20, 45, 11, 509274, tzinfo=UTC)
    assert [(p.start, p.end, p.g_per_kwh) for p in series.points] == [(t, t + timedelta(hours=1), 70.0)]
    assert any("data-quality: 1 bylocation point(s) had no duration" in n for n in series.notes)


def test_sdk_forecast_example_durations_and_optimal_point():
    body = example("carbon_aware_sdk", "forecasts_current.json")
    with StubServer({("GET", "/emissions/forecasts/current"): lambda req: body}) as srv:
        p = CarbonAwareSdkProvider("northeurope", base_url=srv.url, sleep=no_sleep)
        series, optimal = p.forecast_with_optimal(utc(2022, 7, 19, 14), timedelta(hours=15))
    # duration 10 (minutes): 14:00-14:10 at 532.02293146 and 04:25-04:35 (next day) at 535.7318741001667
    assert [(p.start, p.end, p.g_per_kwh) for p in series.points] == [
        (utc(2022, 7, 19, 14, 0), utc(2022, 7, 19, 14, 10), 532.02293146),
        (utc(2022, 7, 20, 4, 25), utc(2022, 7, 20, 4, 35), 535.7318741001667),
    ]
    assert series.generated_at == utc(2022, 7, 19, 13, 35)
    assert optimal == [
        {
            "location": "IE",
            "start": utc(2022, 7, 19, 18, 45),
            "duration_min": 10.0,
            "g_per_kwh": 448.4451043375,
        }
    ]


def test_sdk_points_without_duration_take_the_neighbour_spacing():
    body = [
        {"location": "westus", "time": f"2022-05-17T{h:02d}:00:00+00:00", "rating": r}
        for h, r in ((10, 100.0), (11, 200.0), (12, 300.0))
    ]
    with StubServer({("GET", "/emissions/bylocation"): lambda req: body}) as srv:
        series = CarbonAwareSdkProvider("westus", base_url=srv.url, sleep=no_sleep).history(
            utc(2022, 5, 17, 10), utc(2022, 5, 17, 13)
        )
    # hourly rows (an Electricity Maps-backed SDK): each lasts 1 h, the last as long as the one before
    assert [(p.end - p.start) for p in series.points] == [timedelta(hours=1)] * 3
    assert not any("no duration" in n for n in series.notes)


def test_sdk_204_no_content_is_no_data_and_the_chain_says_why():
    with StubServer({("GET", "/emissions/bylocation"): lambda req: StubResponse(204)}) as srv:
        sdk = CarbonAwareSdkProvider("eastus", base_url=srv.url, sleep=no_sleep)
        alone = sdk.history(utc(2022, 5, 17, 20), utc(2022, 5, 17, 21))
        chain = FallbackProvider([sdk, StaticProvider("DE")])
        with pytest.warns(ProviderFallbackWarning, match="204 No Content"):
            series = chain.history(utc(2022, 5, 17, 20), utc(2022, 5, 17, 21))
    assert alone.points == [] and any("204 No Content" in n for n in alone.notes)
    assert series.kind == "fallback" and series.points
    assert "204 No Content" in chain.fallbacks_used[0]["reason"]


# ---------------------------------------------------------------- Electricity Maps


@pytest.fixture
def em_env(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "em-doc-token-5678")


def em(srv, now: datetime, **kw) -> ElectricityMapsProvider:
    return ElectricityMapsProvider("DE", base_url=srv.url, sleep=no_sleep, now=lambda: now, **kw)


def test_em_history_example_is_hourly_with_a_gap(em_env):
    body = example("electricity_maps", "history.json")
    with StubServer({("GET", "/v3/carbon-intensity/history"): lambda req: body}) as srv:
        series = em(srv, utc(2021, 8, 19, 13)).history(utc(2021, 8, 18, 13), utc(2021, 8, 19, 13))
    # the API documents hourly data: two 1-hour points, 413 g at 13:00-14:00 on 18 Aug and 338 g at
    # 12:00-13:00 on 19 Aug, and a recorded gap of 22 h between them (not two 23-hour points)
    assert [(p.start, p.end, p.g_per_kwh) for p in series.points] == [
        (utc(2021, 8, 18, 13), utc(2021, 8, 18, 14), 413.0),
        (utc(2021, 8, 19, 12), utc(2021, 8, 19, 13), 338.0),
    ]
    gap = [n for n in series.notes if "gap" in n]
    assert gap and "22 h" in gap[0] and "2021-08-18T14:00:00+00:00 to 2021-08-19T12:00:00+00:00" in gap[0]
    # 1 kWh drawn 06:00-07:00 on 19 Aug lies in the gap; the nearest hour is 12:00 (5 h away,
    # against 16 h to 14:00 the day before): 1 kWh x 338 g/kWh = 338 g (not 413 g)
    timeline = [EnergyInterval(utc(2021, 8, 19, 6), utc(2021, 8, 19, 7), 3.6e6)]
    assert integrate_operational_g(timeline, series.points)[0] == pytest.approx(338.0)


def test_em_past_range_example(em_env):
    body = example("electricity_maps", "past_range.json")
    with StubServer({("GET", "/v3/carbon-intensity/past-range"): lambda req: body}) as srv:
        series = em(srv, utc(2024, 1, 1)).history(utc(2019, 5, 21, 21), utc(2019, 5, 22, 0))
    # three consecutive hours, 339, 317, 305 g/kWh; 1 kWh per hour over 21:00-24:00:
    # 339 + 317 + 305 = 961 g
    assert [p.g_per_kwh for p in series.points] == [339.0, 317.0, 305.0]
    assert not any("gap" in n for n in series.notes)
    timeline = [
        EnergyInterval(
            utc(2019, 5, 21, 21 + h), utc(2019, 5, 21, 22 + h) if h < 2 else utc(2019, 5, 22, 0), 3.6e6
        )
        for h in range(3)
    ]
    assert integrate_operational_g(timeline, series.points)[0] == pytest.approx(961.0)


def test_em_forecast_example_gap_and_coverage_note(em_env):
    body = example("electricity_maps", "forecast.json")
    with StubServer({("GET", "/v3/carbon-intensity/forecast"): lambda req: body}) as srv:
        series = em(srv, utc(2018, 11, 26, 17, 30)).forecast(utc(2018, 11, 26, 17), timedelta(hours=72))
    # 326 g at 17:00-18:00, 297 g at 18:00-19:00 on 26 Nov, then a 46 h gap, 194 g at 17:00-18:00 on 28 Nov;
    # the horizon ends 29 Nov 17:00, the forecast at 28 Nov 18:00
    assert [(p.start, p.g_per_kwh) for p in series.points] == [
        (utc(2018, 11, 26, 17), 326.0),
        (utc(2018, 11, 26, 18), 297.0),
        (utc(2018, 11, 28, 17), 194.0),
    ]
    assert any("46 h" in n for n in series.notes)
    assert any(
        "ends at 2018-11-28T18:00:00+00:00, before the requested horizon end 2018-11-29T17:00:00+00:00" in n
        for n in series.notes
    )
    assert series.generated_at == datetime(2018, 11, 26, 17, 25, 24, 685000, tzinfo=UTC)


def test_em_forecast_outside_the_window_says_so_without_contradiction(em_env):
    body = example("electricity_maps", "forecast.json")
    with StubServer({("GET", "/v3/carbon-intensity/forecast"): lambda req: body}) as srv:
        series = em(srv, utc(2018, 11, 26, 17)).forecast(utc(2018, 11, 26, 10), timedelta(hours=2))
    assert series.points == []
    note = next(n for n in series.notes if "forecast covers" in n)
    assert (
        "does not overlap the requested window 2018-11-26T10:00:00+00:00 to 2018-11-26T12:00:00+00:00" in note
    )
    assert not any("before the requested horizon end" in n for n in series.notes)


def test_em_latest_example_and_direct_factors_refused(em_env):
    body = example("electricity_maps", "latest.json")
    with StubServer({("GET", "/v3/carbon-intensity/latest"): lambda req: body}) as srv:
        point = em(srv, utc(2018, 4, 25, 18, 30)).current()
        with pytest.raises(ProviderError, match="emissionFactorType 'lifecycle', not the 'direct'"):
            em(srv, utc(2018, 4, 25, 18, 30), emission_factor_type="direct").current()
    assert point.g_per_kwh == 302.0 and point.end - point.start == timedelta(hours=1)


# ---------------------------------------------------------------- GB Carbon Intensity API


class AnyPath(dict):
    """Routes every GET to one handler (the GB API puts its parameters in the path)."""

    def __init__(self, handler):
        super().__init__()
        self.handler = handler

    def get(self, key, default=None):
        return self.handler


def test_gb_intensity_example():
    body = example("uk_grid", "intensity.json")
    with StubServer() as srv:
        srv.routes = AnyPath(lambda req: body)
        p = UkGridProvider("GB", base_url=srv.url, sleep=no_sleep)
        series = p.history(utc(2018, 1, 20, 12), utc(2018, 1, 20, 12, 30))
        current = p.current()
        paths = [r.path for r in srv.requests]
    # one half-hour, 12:00-12:30: the actual (263 g/kWh) is preferred to the forecast (266)
    assert [(q.start, q.end, q.g_per_kwh) for q in series.points] == [
        (utc(2018, 1, 20, 12), utc(2018, 1, 20, 12, 30), 263.0)
    ]
    assert series.kind == "measured" and current.g_per_kwh == 263.0
    assert paths[0] == "/intensity/2018-01-20T12:00Z/2018-01-20T12:30Z" and paths[1] == "/intensity"


def test_gb_400_example_is_quoted_as_text():
    body = example("uk_grid", "error_400.json")
    with StubServer() as srv:
        srv.routes = AnyPath(lambda req: StubResponse(400, body))
        with pytest.raises(ProviderError) as err:
            UkGridProvider("GB", base_url=srv.url, sleep=no_sleep).history(
                utc(2018, 1, 20, 12), utc(2018, 1, 20, 13)
            )
    text = str(err.value)
    assert '"400 Bad Request: Please enter a valid region ID i.e. 1-17."' in text
    assert "{'code'" not in text and '{"code"' not in text


def test_em_rows_that_are_not_hourly_are_refused(em_env):
    body = example("electricity_maps", "history.json")
    for row in body["history"]:
        row["temporalGranularity"] = "5_minutes"
    with StubServer({("GET", "/v3/carbon-intensity/history"): lambda req: body}) as srv:
        with pytest.raises(ProviderError, match="temporalGranularity '5_minutes', not the hourly"):
            em(srv, utc(2021, 8, 19, 13)).history(utc(2021, 8, 18, 13), utc(2021, 8, 19, 13))
        assert srv.requests[-1].arg("temporalGranularity") == "hourly"


def test_em_gap_note_reaches_the_report(em_env, tmp_path):
    from sci_lightning.energy.base import ComponentEnergy, EnergyResult
    from sci_lightning.sci.compute import compute_sci
    from sci_lightning.sci.writer import write_run_report
    from sci_lightning.settings import SciConfig

    body = example("electricity_maps", "history.json")
    with StubServer({("GET", "/v3/carbon-intensity/history"): lambda req: body}) as srv:
        series = em(srv, utc(2021, 8, 19, 13)).history(utc(2021, 8, 18, 13), utc(2021, 8, 19, 13))
    start, end = utc(2021, 8, 19, 6), utc(2021, 8, 19, 7)
    energy = EnergyResult(
        started_at=start,
        ended_at=end,
        duration_s=3600.0,
        components=[ComponentEnergy("gpu", "GPU-0", 3.6e6, "nvml_energy_counter", "measured")],
        timeline=[EnergyInterval(start, end, 3.6e6)],
        pue=1.0,
        steps=1,
        epochs=1,
        images=10,
    )
    result = compute_sci(energy, series, SciConfig())
    # 1 kWh in the gap, charged at the nearest hour: 338 g (see test_em_history_example_is_hourly_with_a_gap)
    assert result.operational_g == pytest.approx(338.0)
    write_run_report(tmp_path, result, energy, {"model": "m", "run_name": "r"})
    report = json.loads((tmp_path / "sci_report.json").read_text())
    assert any("data-quality: 1 gap(s)" in n for n in report["intensity"]["notes"])
    assert "data-quality: 1 gap(s)" in (tmp_path / "sci_report.md").read_text()


def test_sdk_points_without_duration_keep_a_gap_a_gap():
    # hourly rows at 10:00, 11:00 and then 20:00 (the source had nothing in between): each
    # lasts the source's 1 h resolution; 11:00 must not stretch over the 8-hour gap, which is noted
    body = [
        {"location": "westus", "time": f"2022-05-17T{h:02d}:00:00+00:00", "rating": r}
        for h, r in ((10, 100.0), (11, 200.0), (20, 300.0))
    ]
    with StubServer({("GET", "/emissions/bylocation"): lambda req: body}) as srv:
        series = CarbonAwareSdkProvider("westus", base_url=srv.url, sleep=no_sleep).history(
            utc(2022, 5, 17, 10), utc(2022, 5, 17, 21)
        )
    assert [(p.start.hour, p.end.hour) for p in series.points] == [(10, 11), (11, 12), (20, 21)]
    assert any(
        "1 gap(s) in bylocation (first 2022-05-17T12:00:00Z to 2022-05-17T20:00:00Z)" in n
        for n in series.notes
    )
    # energy drawn 11:00-13:00: the second hour lies in the gap, so it is recorded as filled
    # (3600 s), not silently charged as if the 11:00 value had been measured for it
    timeline = [EnergyInterval(utc(2022, 5, 17, 11), utc(2022, 5, 17, 13), 3.6e6)]
    [record] = integrate_operational_g(timeline, series.points)[1]
    assert record.filled_s == pytest.approx(3600.0)


def test_sdk_answer_for_another_location_is_labelled():
    # the published forecast example is for "northeurope"; asked for "westeurope", the SDK's
    # only forecast is used as served, and the report's notes say whose it is
    body = example("carbon_aware_sdk", "forecasts_current.json")
    with StubServer(
        {
            ("GET", "/emissions/forecasts/current"): lambda req: body,
            ("GET", "/emissions/bylocation"): lambda req: example("carbon_aware_sdk", "bylocation.json"),
        }
    ) as srv:
        forecast, _ = CarbonAwareSdkProvider(
            "westeurope", base_url=srv.url, sleep=no_sleep
        ).forecast_with_optimal(utc(2022, 7, 19, 14), timedelta(hours=15))
        history = CarbonAwareSdkProvider("westus", base_url=srv.url, sleep=no_sleep).history(
            utc(2022, 5, 17, 20), utc(2022, 5, 17, 22)
        )
    assert any(
        "the Carbon Aware SDK served location 'northeurope' for the requested 'westeurope'" in n
        for n in forecast.notes
    )
    assert any("served location 'eastus' for the requested 'westus'" in n for n in history.notes)
    assert CarbonAwareSdkProvider("NorthEurope", base_url="http://127.0.0.1:9")._location_notes(body) == []


def test_em_answer_for_another_zone_is_labelled(em_env):
    # the published forecast example is for zone DK-DK2; asked for DE it is used as served and
    # the notes say whose it is; the history example (zone DE) gets no such note
    fc, hist = example("electricity_maps", "forecast.json"), example("electricity_maps", "history.json")
    with StubServer(
        {
            ("GET", "/v3/carbon-intensity/forecast"): lambda req: fc,
            ("GET", "/v3/carbon-intensity/history"): lambda req: hist,
        }
    ) as srv:
        forecast = em(srv, utc(2018, 11, 26, 17)).forecast(utc(2018, 11, 26, 17), timedelta(hours=2))
        history = em(srv, utc(2021, 8, 19, 13)).history(utc(2021, 8, 18, 13), utc(2021, 8, 19, 13))
        by_coords = ElectricityMapsProvider(
            latitude=55.6, longitude=12.6, base_url=srv.url, sleep=no_sleep, now=lambda: utc(2018, 11, 26, 17)
        ).forecast(utc(2018, 11, 26, 17), timedelta(hours=2))
    assert any("Electricity Maps served zone 'DK-DK2' for the requested 'DE'" in n for n in forecast.notes)
    assert not any("for the requested" in n for n in history.notes)
    assert any("lat=55.6,lon=12.6 resolved to zone 'DK-DK2'" in n for n in by_coords.notes)
