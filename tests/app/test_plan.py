"""``python -m sci_lightning.plan``: config, output, and end to end against loopback stubs
of WattTime (/v3/forecast) and the Carbon Aware SDK (/emissions/forecasts/current) serving
real 2023 trace values: the command must pick the window an independent brute force finds.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ValidationError

from sci_lightning.app.plan import run_plan, translate_argv
from sci_lightning.carbon.base import IntensityPoint, IntensityProvider, IntensitySeries
from sci_lightning.errors import ConfigError
from sci_lightning.settings import PlanConfig
from tests.shifting.test_planner import brute_force, load_hourly  # independent reference and trace parser

UTC = timezone.utc
ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"
LBS = 0.45359237  # g/kWh per lb/MWh (test's own constant)


def compose_plan(overrides):
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose("plan", overrides=overrides)


class ListProvider(IntensityProvider):
    name = "list"
    region = "XX"

    def __init__(self, t0, values, step_min=60, kind="forecast"):
        self.series = IntensitySeries(
            [
                IntensityPoint(
                    t0 + timedelta(minutes=i * step_min), t0 + timedelta(minutes=(i + 1) * step_min), v
                )
                for i, v in enumerate(values)
            ],
            "list",
            "XX",
            "average",
            kind,
            generated_at=t0,
        )

    def history(self, start, end):  # pragma: no cover
        raise NotImplementedError

    def forecast(self, start=None, horizon=timedelta(hours=24)):
        return self.series


T0 = datetime(2024, 6, 1, tzinfo=UTC)
DIP = [400.0] * 5 + [100.0, 100.0] + [400.0] * 23


# --------------------------------------------------------------------------- config and output


def test_plan_yaml_composes_with_schema_and_rejects_typos():
    cfg = compose_plan([])
    assert cfg.carbon.provider == "static" and cfg.duration == "2h" and cfg.json is False
    with pytest.raises(ConfigCompositionException):
        compose_plan(["durration=3h"])
    with pytest.raises((ConfigCompositionException, ValidationError)):
        compose_plan(["carbon.regoin=DE"])
    with pytest.raises((ConfigCompositionException, ValidationError)):
        compose_plan(["window_h=soon"])


def test_translate_argv():
    assert translate_argv(["duration=2h", "--json"]) == ["duration=2h", "json=true"]
    assert translate_argv(["--slurm-begin"]) == ["slurm_begin=true"]


def test_table_output_and_png(tmp_path):
    cfg = compose_plan(["duration=2h", "energy_kwh=2.0", "embodied_g=50", "functional_units=2"])
    out = io.StringIO()
    res = run_plan(cfg, provider=ListProvider(T0, DIP), now=T0, output_dir=tmp_path, stream=out)
    text = out.getvalue()
    assert "best start  2024-06-01 05:00 UTC" in text and "run now     2024-06-01 00:00 UTC" in text
    assert "75.0%" in text and "estimates" in text
    p = res["projection"]
    assert p["operational_now_g"] == pytest.approx(800) and p["operational_shifted_g"] == pytest.approx(200)
    assert p["sci_now_g_per_unit"] == pytest.approx((800 + 50) / 2)
    assert p["sci_shifted_g_per_unit"] == pytest.approx((200 + 50) / 2)
    png = Path(res["plot"])
    assert png == tmp_path / "carbon_plan.png" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot: {png}" in text


def test_json_output(tmp_path):
    cfg = compose_plan(["duration=90m", "json=true", "plot=false"])
    out = io.StringIO()
    run_plan(cfg, provider=ListProvider(T0, DIP), now=T0, output_dir=tmp_path, stream=out)
    data = json.loads(out.getvalue())
    assert data["plan"]["best_start"] == "2024-06-01T05:00:00Z"
    assert data["plan"]["best_mean_g_per_kwh"] == pytest.approx(100.0)
    assert data["plan"]["now_mean_g_per_kwh"] == pytest.approx(400.0)
    assert "projection" not in data and "plot" not in data
    assert not (tmp_path / "carbon_plan.png").exists()


def test_slurm_begin_only(tmp_path):
    cfg = compose_plan(["duration=2h", "slurm_begin=true", "slurm_tz=UTC"])
    out = io.StringIO()
    run_plan(cfg, provider=ListProvider(T0, DIP), now=T0, output_dir=tmp_path, stream=out)
    assert out.getvalue() == "2024-06-01T05:00:00\n"


def test_bad_settings_are_config_errors(tmp_path):
    for overrides, match in (
        (["duration=2"], "no unit"),
        (["energy_kwh=-1"], "energy_kwh"),
        (["start=2024-06-01T00:00:00"], "no time zone"),
        (["align=sdk"], "align"),
    ):
        with pytest.raises(ConfigError, match=match):
            run_plan(
                compose_plan(overrides),
                provider=ListProvider(T0, DIP),
                now=T0,
                output_dir=tmp_path,
                stream=io.StringIO(),
            )


def test_run_plan_takes_plan_config_dict_or_node_alike(tmp_path):
    results = []
    for cfg in (
        PlanConfig(duration="90m", json=True, plot=False),
        {"duration": "90m", "json": True, "plot": False},
        compose_plan(["duration=90m", "json=true", "plot=false"]),
    ):
        out = io.StringIO()
        run_plan(cfg, provider=ListProvider(T0, DIP), now=T0, output_dir=tmp_path, stream=out)
        results.append(out.getvalue())
    assert results[0] == results[1] == results[2]
    with pytest.raises(ConfigError, match="durration.*Did you mean duration"):
        run_plan({"durration": "90m"}, provider=ListProvider(T0, DIP), now=T0, stream=io.StringIO())


def test_offline_trace_backtest(tmp_path):
    path = (
        Path(os.environ.get("SCI_CARBON_DATA", "/work/shared/data/carbon-intensity")) / "DE_2023_hourly.csv"
    )
    t0, values = load_hourly("DE_2023_hourly.csv")  # skips when absent
    cfg = compose_plan(
        [
            "carbon=trace",
            f"carbon.trace_path={path}",
            "carbon.fallback=[]",
            "start=2023-03-10T06:00:00Z",
            "duration=150m",
            "json=true",
            "plot=false",
        ]
    )
    out = io.StringIO()
    run_plan(cfg, output_dir=tmp_path, stream=out)
    got = json.loads(out.getvalue())["plan"]
    now = datetime(2023, 3, 10, 6, tzinfo=UTC)
    day = int((now - t0).total_seconds() // 3600)
    bs, bm, _, _ = brute_force(now, values[day : day + 26], 60, now, 150, now + timedelta(hours=24))
    assert got["best_start"] == bs.isoformat().replace("+00:00", "Z")
    assert got["best_mean_g_per_kwh"] == pytest.approx(bm, rel=1e-9)


# --------------------------------------------------------------------------- end to end via stub servers


def _stub_values(day_index: int) -> list[float]:
    """30 h of 5-min values (lbs/MWh, 3 decimals) interpolated from a real hourly trace."""
    _, hourly = load_hourly("CISO_2023_hourly.csv")
    h = hourly[day_index * 24 : day_index * 24 + 32]
    out = []
    for k in range(30 * 12):
        a, b = h[k // 12], h[k // 12 + 1]
        g = a + (b - a) * (k % 12) / 12
        out.append(round(g / LBS, 3))
    return out


def _now_aligned() -> tuple[datetime, datetime]:
    real = datetime.now(UTC)
    gen = real.replace(second=0, microsecond=0) - timedelta(minutes=real.minute % 5)
    return gen, gen + timedelta(
        minutes=2
    )  # forecast issue time, and a mid-point "now" (whole minute: brute force)


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(UTC)


@pytest.fixture
def stub_server_cls():
    try:
        from stub_server import StubServer
    except ImportError:  # pragma: no cover
        pytest.skip("tests/helpers/stub_server.py missing")
    return StubServer


@pytest.mark.parametrize("duration_min", [120, 97])
def test_end_to_end_watttime_stub(stub_server_cls, tmp_path, monkeypatch, duration_min):
    if importlib.util.find_spec("sci_lightning.carbon.watttime") is None:
        pytest.skip("WattTime provider module missing")
    gen, now = _now_aligned()
    lbs = _stub_values(day_index=170)

    def login(req):
        return {"token": "tok-e2e"}

    def forecast(req):
        assert req.header("Authorization") == "Bearer tok-e2e"
        assert req.arg("region") == "CAISO_NORTH"
        return {
            "data": [
                {"point_time": _iso(gen + timedelta(minutes=5 * i)), "value": v} for i, v in enumerate(lbs)
            ],
            "meta": {
                "region": "CAISO_NORTH",
                "signal_type": "co2_moer",
                "units": "lbs_co2_per_mwh",
                "data_point_period_seconds": 300,
                "generated_at": _iso(gen),
            },
        }

    monkeypatch.setenv("WATTTIME_USERNAME", "e2e-user")
    monkeypatch.setenv("WATTTIME_PASSWORD", "e2e-pass")
    with stub_server_cls({("GET", "/login"): login, ("GET", "/v3/forecast"): forecast}) as srv:
        cfg = compose_plan(
            [
                "carbon=watttime",
                f"carbon.base_url={srv.url}",
                "carbon.region=CAISO_NORTH",
                "carbon.fallback=[]",
                f"duration={duration_min}m",
                "energy_kwh=1.5",
                "json=true",
                f"plot_path={tmp_path / 'p.png'}",
            ]
        )
        out = io.StringIO()
        run_plan(cfg, now=now, stream=out)
        assert srv.count("GET", "/v3/forecast") == 1 and not srv.errors
    got = json.loads(out.getvalue())
    g = [v * LBS for v in lbs]
    bs, bm, nm, n = brute_force(gen, g, 5, now, duration_min, now + timedelta(hours=24))
    assert got["plan"]["best_start"] == _iso(bs)
    assert got["plan"]["best_mean_g_per_kwh"] == pytest.approx(bm, rel=1e-9)
    assert got["plan"]["now_mean_g_per_kwh"] == pytest.approx(nm, rel=1e-9)
    assert got["plan"]["candidates"] == n
    assert got["plan"]["signal_type"] == "marginal" and got["plan"]["region"] == "CAISO_NORTH"
    assert got["plan"]["generated_at"] == _iso(gen)
    assert got["projection"]["saving_g"] == pytest.approx(1.5 * (nm - bm), rel=1e-9)
    assert (tmp_path / "p.png").is_file()
    assert "e2e-pass" not in out.getvalue() and "tok-e2e" not in out.getvalue()


def _sdk_rolling(points, start, end, window):
    """Test-side emulation of the SDK: windows from dataStartAt stepping by the resolution,
    averaged minute by minute; kept when the data covers them and they end by dataEndAt."""
    res = points[0][1] - points[0][0]
    first, last = points[0][0], points[-1][1]
    out = []
    s = max(start, first)
    while s + window <= min(end, last):
        total, t = 0.0, s
        while t < s + window:
            v = next(val for a, b, val in points if a <= t < b)
            total += v
            t += timedelta(minutes=1)
        out.append((s, total / (window.total_seconds() / 60)))
        s += res
    return out


@pytest.mark.parametrize("duration_min", [120, 97])
def test_end_to_end_carbon_aware_sdk_stub(stub_server_cls, tmp_path, duration_min):
    if importlib.util.find_spec("sci_lightning.carbon.carbon_aware_sdk") is None:
        pytest.skip("Carbon Aware SDK provider module missing")
    gen, now = _now_aligned()
    g = [round(v * LBS, 4) for v in _stub_values(day_index=200)]
    pts = [(gen + timedelta(minutes=5 * i), gen + timedelta(minutes=5 * (i + 1)), v) for i, v in enumerate(g)]

    def forecast(req):
        assert req.arg("location") == "westus"
        start = _parse(req.arg("dataStartAt")) if req.arg("dataStartAt") else pts[0][0]
        end = _parse(req.arg("dataEndAt")) if req.arg("dataEndAt") else pts[-1][1]
        kept = [p for p in pts if p[1] > start and p[0] <= end]
        ws = req.arg("windowSize")
        if ws:  # like the SDK: forecastData become window averages, optimal = the lowest
            rolled = _sdk_rolling(kept, start, end, timedelta(minutes=int(ws)))
            lowest = min(v for _, v in rolled)
            data = [
                {"location": "westus", "timestamp": _iso(s), "duration": int(ws), "value": v}
                for s, v in rolled
            ]
            optimal = [d for d in data if d["value"] == lowest]
        else:
            data = [
                {"location": "westus", "timestamp": _iso(a), "duration": 5, "value": v} for a, _, v in kept
            ]
            optimal = [min(data, key=lambda d: d["value"])]
        return [
            {
                "generatedAt": _iso(gen),
                "requestedAt": _iso(now),
                "location": "westus",
                "dataStartAt": req.arg("dataStartAt"),
                "dataEndAt": req.arg("dataEndAt"),
                "windowSize": int(ws or 5),
                "optimalDataPoints": optimal,
                "forecastData": data,
            }
        ]

    with stub_server_cls({("GET", "/emissions/forecasts/current"): forecast}) as srv:
        cfg = compose_plan(
            [
                "carbon=carbon_aware_sdk",
                f"carbon.base_url={srv.url}",
                "carbon.region=westus",
                f"duration={duration_min}m",
                "json=true",
                "plot=false",
            ]
        )
        out = io.StringIO()
        run_plan(cfg, now=now, stream=out)
        assert not srv.errors
        assert srv.count("GET", "/emissions/forecasts/current") == 2  # raw forecast + SDK's optimal window
    got = json.loads(out.getvalue())
    bs, bm, nm, n = brute_force(gen, g, 5, now, duration_min, now + timedelta(hours=24))
    assert got["plan"]["best_start"] == _iso(bs)
    assert got["plan"]["best_mean_g_per_kwh"] == pytest.approx(bm, rel=1e-9)
    assert got["plan"]["candidates"] == n
    check = got["sdk_cross_check"]
    assert check["agrees"], check["reason"]


def test_sdk_cross_check_reports_disagreement(stub_server_cls):
    if importlib.util.find_spec("sci_lightning.carbon.carbon_aware_sdk") is None:
        pytest.skip("Carbon Aware SDK provider module missing")
    gen, now = _now_aligned()
    data = [
        {
            "location": "westus",
            "timestamp": _iso(gen + timedelta(hours=i)),
            "duration": 60,
            "value": 100.0 if i == 5 else 300.0,
        }
        for i in range(30)
    ]

    def forecast(req):
        wrong = [
            {"location": "westus", "timestamp": _iso(gen + timedelta(hours=9)), "duration": 60, "value": 50.0}
        ]
        return [
            {
                "generatedAt": _iso(gen),
                "location": "westus",
                "optimalDataPoints": wrong,
                "forecastData": [d for d in data if _parse(d["timestamp"]) + timedelta(hours=1) > now],
            }
        ]

    with stub_server_cls({("GET", "/emissions/forecasts/current"): forecast}) as srv:
        cfg = compose_plan(
            [
                "carbon=carbon_aware_sdk",
                f"carbon.base_url={srv.url}",
                "carbon.region=westus",
                "duration=1h",
                "plot=false",
            ]
        )
        out = io.StringIO()
        res = run_plan(cfg, now=now, stream=out)
    assert res["sdk_cross_check"]["agrees"] is False
    assert "DISAGREES" in out.getvalue()
    assert any("cross-check disagrees" in n for n in res["plan"]["notes"])


# --------------------------------------------------------------------------- the real command line


_BOOT = (
    "import sys, importlib.util, sci_lightning\n"
    "if importlib.util.find_spec('sci_lightning.conf') is None:\n"
    "    sci_lightning.__path__.append({root!r})  # dev checkout: conf/ is sci_lightning.conf once installed\n"
    "sys.argv = ['plan'] + sys.argv[1:]\n"
    "from sci_lightning.app.plan import main\n"
    "main()\n"
)


def _cli(args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), MPLBACKEND="Agg")
    return subprocess.run(
        [sys.executable, "-c", _BOOT.format(root=str(ROOT)), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_cli_json_flag_and_errors(tmp_path):
    path = (
        Path(os.environ.get("SCI_CARBON_DATA", "/work/shared/data/carbon-intensity")) / "CISO_2023_hourly.csv"
    )
    load_hourly("CISO_2023_hourly.csv")  # skips when absent
    r = _cli(
        [
            "carbon=trace",
            f"carbon.trace_path={path}",
            "carbon.fallback=[]",
            "start=2023-07-01T00:00:00Z",
            "duration=1h30m",
            "--json",
        ],
        tmp_path,
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["plan"]["duration_s"] == 5400
    png = Path(data["plot"])
    assert png.is_file() and png.name == "carbon_plan.png" and (tmp_path / "outputs" / "plan") in png.parents
    bad = _cli(["duration=2 hours"], tmp_path)
    assert bad.returncode == 2 and "error:" in bad.stderr and "Traceback" not in bad.stderr


def test_trace_gap_covering_now_gives_the_real_wait(tmp_path):
    # hourly trace: 2023-07-01 00:00-06:00 and 18:00 onwards (a 12 h gap, left as a gap); plan at
    # 07:00 for a 1 h job: the first data is at 18:00, 11 h later, and it is the cleanest hour,
    # so delay_s = 11 h = 39,600 s and data_gap_at_start_s = 39,600 s (not a now_start 11 h away
    # with delay 0)
    rows = [f"2023-07-01T{h:02d}:00:00Z,{400}" for h in range(0, 7)]
    rows += [f"2023-07-01T{h:02d}:00:00Z,{100 if h == 18 else 400}" for h in range(18, 24)]
    rows += [f"2023-07-02T{h:02d}:00:00Z,400" for h in range(0, 12)]
    path = tmp_path / "gap.csv"
    path.write_text("timestamp,g_per_kwh\n" + "\n".join(rows) + "\n")
    cfg = compose_plan(
        [
            "carbon=trace",
            f"carbon.trace_path={path}",
            "carbon.fallback=[]",
            "start=2023-07-01T07:00:00Z",
            "duration=1h",
            "json=true",
            "plot=false",
        ]
    )
    out = io.StringIO()
    run_plan(cfg, output_dir=tmp_path, stream=out)
    doc = json.loads(out.getvalue())
    plan = doc.get("plan", doc)
    assert plan["best_start"].startswith("2023-07-01T18:00")
    assert plan["delay_s"] == 11 * 3600.0 and plan["data_gap_at_start_s"] == 11 * 3600.0


@pytest.mark.slow
def test_a_reader_that_closes_early_gets_no_traceback(tmp_path):
    """``python -m sci_lightning.plan ... | head -1``: the plan writes its whole answer (~1 KB) in one
    go at exit, so head closing after its line and a reader already gone are the same pipe for
    the command; this reader is gone before the write (no race). It stops quietly, with 141
    (128 + SIGPIPE, as ``yes | head -1``), no traceback and no "Exception ignored"."""
    path = (
        Path(os.environ.get("SCI_CARBON_DATA", "/work/shared/data/carbon-intensity")) / "DE_2023_hourly.csv"
    )
    load_hourly("DE_2023_hourly.csv")  # skips when absent
    args = ["carbon=trace", f"carbon.trace_path={path}", "carbon.fallback=[]"]
    args += ["start=2023-03-10T06:00:00Z", "duration=150m", "plot=false"]
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone (head -1 after its line)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), MPLBACKEND="Agg")
    try:
        r = subprocess.run(
            [sys.executable, "-c", _BOOT.format(root=str(ROOT)), *args],
            cwd=tmp_path,
            env=env,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr, r.stderr
    assert r.returncode == 141, r.stderr
