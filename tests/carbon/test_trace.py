"""TraceProvider (CSV traces, Electricity Maps exports included) and the carbon config group files."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from sci_lightning.carbon import PROVIDERS, build_provider
from sci_lightning.carbon.base import ProviderError
from sci_lightning.carbon.trace import TraceProvider, load_trace
from sci_lightning.errors import ConfigError, DatasetError
from sci_lightning.settings import CarbonConfig

UTC = timezone.utc
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "carbon-intensity"
CISO = SHARED / "CISO_2023_hourly.csv"
DE = SHARED / "DE_2023_hourly.csv"
CONF = Path(__file__).resolve().parents[2] / "conf" / "carbon"


def t(h: float, day: int = 1) -> datetime:
    return datetime(2023, 3, day, tzinfo=UTC) + timedelta(hours=h)


# ----------------------------------------------------------------------------- trace


def write(tmp_path: Path, text: str, name: str = "trace.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


PLAIN = """timestamp,g_per_kwh
2023-03-01T00:00:00Z,100
2023-03-01T01:00:00Z,200
2023-03-01T02:00:00+00:00,300
2023-03-01T03:00:00,400
"""


def test_plain_trace_history(tmp_path):
    p = TraceProvider(write(tmp_path, PLAIN))
    s = p.history(t(0.5), t(2.5))
    assert [pt.g_per_kwh for pt in s.points] == [100, 200, 300]  # overlapping points, not clipped
    assert s.points[0].start == t(0) and s.points[-1].end == t(3)
    assert s.kind == "measured" and s.signal_type == "average" and s.region == "trace"
    assert p.history(t(3), t(5)).points[-1].end == t(4)  # last row lasts one typical step
    assert p.history(t(10), t(11)).points == []


def test_trace_forecast_is_labelled_replay(tmp_path):
    s = TraceProvider(write(tmp_path, PLAIN)).forecast(t(1), timedelta(hours=2))
    assert [pt.g_per_kwh for pt in s.points] == [200, 300]
    assert "trace replay" in s.source
    assert any("not a real forecast" in n for n in s.notes)
    assert s.kind == "measured"


def test_trace_gap_is_kept(tmp_path):
    text = "timestamp,value\n2023-03-01T00:00:00Z,100\n2023-03-01T01:00:00Z,200\n2023-03-01T05:00:00Z,300\n"
    s = TraceProvider(write(tmp_path, text)).history(t(0), t(6))
    assert [(pt.start, pt.end) for pt in s.points] == [(t(0), t(1)), (t(1), t(2)), (t(5), t(6))]


EM_HEADER = (
    "Datetime (UTC),Country,Zone Name,Zone Id,Carbon Intensity gCO₂eq/kWh (direct),"
    "Carbon Intensity gCO₂eq/kWh (LCA),Low Carbon Percentage,Renewable Percentage,Data Source,"
    "Data Estimated,Data Estimation Method\n"
)
EM_ROWS = (
    "2023-03-01 00:00:00,Germany,Germany,DE,150.5,200.25,80,70,entsoe.eu,false,\n"
    "2023-03-01 01:00:00,Germany,Germany,DE,160.5,210.25,80,70,entsoe.eu,true,TIME_SLICER_AVERAGE\n"
)


def test_electricity_maps_export_columns(tmp_path):
    path = write(tmp_path, EM_HEADER + EM_ROWS)
    direct = TraceProvider(path)
    s = direct.history(t(0), t(2))
    assert [pt.g_per_kwh for pt in s.points] == [150.5, 160.5]  # default: direct
    assert s.region == "DE" and "Electricity Maps" in s.source
    assert any("1 row(s)" in n for n in s.notes)  # estimated rows counted
    lca = TraceProvider(path, column="lca")
    assert [pt.g_per_kwh for pt in lca.history(t(0), t(2)).points] == [200.25, 210.25]
    exact = TraceProvider(path, column="Carbon Intensity gCO₂eq/kWh (LCA)")
    assert exact.trace.column.endswith("(LCA)")
    with pytest.raises(ConfigError, match="not a column"):
        TraceProvider(path, column="nope")


def test_time_offset_and_replay(tmp_path):
    # 14 days of hourly data: value = hour index
    rows = ["timestamp,value"] + [
        f"{(datetime(2023, 1, 2, tzinfo=UTC) + timedelta(hours=i)).isoformat()},{i}" for i in range(14 * 24)
    ]
    path = write(tmp_path, "\n".join(rows) + "\n")
    shifted = TraceProvider(path, time_offset=timedelta(hours=24))
    assert (
        shifted.history(datetime(2023, 1, 3, tzinfo=UTC), datetime(2023, 1, 3, 1, tzinfo=UTC))
        .points[0]
        .g_per_kwh
        == 0
    )
    rep = TraceProvider(path, replay=True)
    assert rep.period_s == 14 * 86400
    # exactly two periods (4 weeks) later we get the same hour back
    a = datetime(2023, 1, 2, 5, tzinfo=UTC) + timedelta(weeks=4)
    pt = rep.history(a, a + timedelta(minutes=1)).points[0]
    assert pt.g_per_kwh == 5 and pt.start == a
    # a window across the period boundary stays contiguous
    edge = datetime(2023, 1, 16, tzinfo=UTC)  # = first + period
    pts = rep.history(edge - timedelta(hours=2), edge + timedelta(hours=2)).points
    assert [p.g_per_kwh for p in pts] == [334, 335, 0, 1]
    assert all(b.start == a.end for a, b in zip(pts, pts[1:]))
    now_pt = rep.current()  # any "now" has a value
    assert now_pt.start <= datetime.now(UTC) < now_pt.end
    with pytest.raises(ProviderError, match="trace_replay"):
        TraceProvider(path).current()


@pytest.mark.parametrize(
    "text,needle",
    [
        ("", "empty"),
        ("when,value\n2023-01-01T00:00:00Z,1\n", "no time column"),
        ("timestamp,foo\n2023-01-01T00:00:00Z,1\n", "no intensity column"),
        ("timestamp,value\nyesterday,1\n", "not ISO 8601"),
        ("timestamp,value\n2023-01-01T00:00:00Z,abc\n", "not a number"),
        ("timestamp,value\n2023-01-01T00:00:00Z,-5\n", ">= 0"),
        ("timestamp,value\n2023-01-01T00:00:00Z,1\n2023-01-01T00:00:00Z,2\n", "appears twice"),
        ("timestamp,value\n", "no data rows"),
    ],
)
def test_bad_trace_files(tmp_path, text, needle):
    with pytest.raises(DatasetError, match=needle):
        load_trace(write(tmp_path, text))


def test_missing_trace_file_and_path(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        TraceProvider(tmp_path / "absent.csv")
    with pytest.raises(ConfigError, match="trace_path is required"):
        build_provider(CarbonConfig(provider="trace", fallback=[]))


@pytest.mark.skipif(not CISO.is_file(), reason="shared CISO trace not present")
def test_real_ciso_trace():
    p = TraceProvider(CISO)
    assert len(p.trace.values) == 8760 and p.region == "US-CAL-CISO"
    s = p.history(datetime(2023, 1, 1, tzinfo=UTC), datetime(2023, 1, 1, 3, tzinfo=UTC))
    assert [pt.g_per_kwh for pt in s.points] == [218.3, 220.63, s.points[2].g_per_kwh]
    assert len(s.points) == 3
    year = p.history(datetime(2023, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)).points
    assert len(year) == 8760
    assert all(b.start == a.end for a, b in zip(year, year[1:]))  # hourly, gap-free
    lca_mean = (
        sum(
            pt.g_per_kwh
            for pt in TraceProvider(CISO, column="lca")
            .history(datetime(2023, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC))
            .points
        )
        / 8760
    )
    assert 255 < lca_mean < 267  # README of the shared data: LCA mean 261


@pytest.mark.skipif(not DE.is_file(), reason="shared DE trace not present")
def test_real_de_trace_replay_as_now():
    p = TraceProvider(DE, column="lca", replay=True)
    s = p.forecast(horizon=timedelta(hours=24))
    assert 24 <= len(s.points) <= 25 and s.region == "DE"
    assert all(90 < pt.g_per_kwh < 800 for pt in s.points)


# ----------------------------------------------------------------------------- conf files


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_conf_group_files_match_schema(name):
    """Each conf/carbon/<name>.yaml merges into the CarbonConfig schema and names itself."""
    path = CONF / f"{name}.yaml"
    assert path.is_file(), f"missing {path}"
    text = path.read_text()
    for word in ("password", "token:", "secret"):
        assert word not in text.lower().replace("electricitymaps_token", "").replace("watttime_password", "")
    merged = OmegaConf.merge(OmegaConf.structured(CarbonConfig), OmegaConf.load(path))
    assert merged.provider == name


# ----------------------------------------------------------------------------- packaged sample


def test_packaged_sample_loads_offline_and_replays_as_now():
    from sci_lightning.carbon.trace import SAMPLES, resolve_trace_path

    path = resolve_trace_path("sample:de_2023")
    assert path.is_file() and path.name == SAMPLES["de_2023"]
    assert (path.parent / "SOURCE.md").read_text(encoding="utf-8").count("Electricity Maps") >= 1
    p = TraceProvider("sample:de_2023", replay=True)
    assert len(p.trace.values) == 48 and p.region == "DE" and p.period_s == 2 * 86400
    now = p.current()  # any time has a value: the 2-day sample repeats
    assert now.end - now.start == timedelta(hours=1)
    far = datetime(2031, 1, 7, 5, 30, tzinfo=timezone.utc)
    s = p.forecast(far, timedelta(hours=24))
    assert s.kind == "measured" and "replay" in s.source and "not live data" in s.source
    assert "Electricity Maps" in s.source
    assert s.points[0].start <= far < s.points[-1].end and len(s.points) == 25
    assert s.points[0].g_per_kwh == p.trace.values[5]  # 05:00 UTC on a recorded day
    with pytest.raises(ConfigError, match="packaged sample"):
        TraceProvider("sample:nowhere")


def test_quickstart_uses_the_packaged_sample(compose):
    from sci_lightning.settings import Config, coerce

    settings = coerce(Config, compose(["experiment=quickstart"]))
    assert settings.carbon.provider == "trace" and settings.carbon.trace_path == "sample:de_2023"
    assert settings.carbon.trace_replay is True
    assert settings.schedule.mode == "report" and settings.schedule.duration
    provider = build_provider(settings.carbon)
    series = provider.forecast(datetime.now(timezone.utc), timedelta(hours=settings.schedule.window_h))
    assert series.points and series.kind == "measured" and "replay" in series.source


# ---------------------------------------------------------------- trace units (issue 21)


def _trace(tmp_path, header: str, values) -> str:
    rows = [f"2023-03-01T{h:02d}:00:00Z,{v}" for h, v in enumerate(values)]
    return write(tmp_path, f"timestamp,{header}\n" + "\n".join(rows) + "\n")


@pytest.mark.parametrize(
    "unit, values, expected",
    [
        ("g_per_kwh", [350, 420], [350.0, 420.0]),
        ("kg_per_kwh", [0.35, 0.42], [350.0, 420.0]),  # x 1000
        ("lbs_per_mwh", [1000, 800], [453.59237, 362.873896]),  # x 0.45359237
    ],
)
def test_trace_units_are_converted(tmp_path, unit, values, expected):
    p = TraceProvider(_trace(tmp_path, "value", values), unit=unit)
    s = p.history(t(0), t(2))
    assert [pt.g_per_kwh for pt in s.points] == pytest.approx(expected)
    assert (unit == "g_per_kwh") != any("converted from" in n for n in s.notes)


def test_trace_unit_comes_from_the_config(tmp_path):
    path = _trace(tmp_path, "intensity_kg_per_kwh", [0.35, 0.42])
    cfg = CarbonConfig(
        provider="trace", trace_path=str(path), trace_column="intensity_kg_per_kwh", trace_unit="kg_per_kwh"
    )
    assert [pt.g_per_kwh for pt in build_provider(cfg).history(t(0), t(2)).points] == pytest.approx(
        [350.0, 420.0]
    )


def test_a_column_named_in_kg_without_a_unit_is_refused_with_the_fix(tmp_path):
    path = _trace(tmp_path, "intensity_kg_per_kwh", [0.35, 0.42])
    with pytest.raises(DatasetError, match="named in kg/kwh.*Fix: set carbon.trace_unit=kg_per_kwh"):
        TraceProvider(path, column="intensity_kg_per_kwh")


def test_values_that_look_like_kg_are_refused_unless_the_unit_is_confirmed(tmp_path):
    path = _trace(tmp_path, "value", [0.35, 0.42])
    with pytest.raises(DatasetError, match="below 5 .*carbon.trace_unit=kg_per_kwh"):
        TraceProvider(path)
    # a user who states g/kWh (a truly clean grid) is believed
    assert TraceProvider(path, unit="g_per_kwh").history(t(0), t(1)).points[0].g_per_kwh == 0.35


def test_values_above_the_physical_bound_are_refused(tmp_path):
    # 6000 lbs/MWh read as g/kWh would be 6000 g/kWh: above the 3,000 g/kWh bound;
    # as lbs/MWh it is 6000 x 0.45359237 = 2721.55422 g/kWh
    with pytest.raises(DatasetError, match="above the physical bound.*carbon.trace_unit"):
        TraceProvider(_trace(tmp_path, "value", [6000, 5900]))
    assert TraceProvider(_trace(tmp_path, "value", [6000, 5900]), unit="lbs_per_mwh").history(
        t(0), t(1)
    ).points[0].g_per_kwh == pytest.approx(2721.55422)


def test_unknown_trace_unit_is_a_config_error():
    with pytest.raises(ConfigError, match="trace_unit"):
        build_provider({"provider": "trace", "trace_path": "x.csv", "trace_unit": "tons"})
