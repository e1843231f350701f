"""The carbon-aware planner (sci_lightning.shifting.planner) against an independent brute force.

The brute force integrates minute by minute; the planner weights points by overlap. They
must pick the same start and mean for durations that are and are not multiples of the
forecast resolution, on real 2023 hourly traces (skipped when absent) and hand-made data.
The planner is pure: it plans with file access and the clock forbidden. The duration
parser is tested in test_durations.py; the duration history is in test_history.py.
"""

from __future__ import annotations

import csv
import json
import os
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sci_lightning.carbon.base import IntensityPoint, IntensitySeries
from sci_lightning.errors import SciLightningError
from sci_lightning.shifting.planner import (
    METHOD,
    PlanError,
    carbon_aware_findings,
    cross_check_optimal,
    plan_best_start,
    window_mean,
)

UTC = timezone.utc
DATA = Path(os.environ.get("SCI_CARBON_DATA", "/work/shared/data/carbon-intensity"))
if not DATA.is_dir():
    DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "carbon-intensity"
COLUMN = "Carbon Intensity gCO₂eq/kWh (direct)"


def load_hourly(name: str) -> tuple[datetime, list[float]]:
    """Tiny independent parser of an Electricity Maps hourly export: (first hour, values)."""
    path = DATA / name
    if not path.is_file():
        pytest.skip(f"{path} not present (shared development data)")
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    t0 = datetime.strptime(rows[0]["Datetime (UTC)"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    values = []
    for i, row in enumerate(rows):
        t = datetime.strptime(row["Datetime (UTC)"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        assert t == t0 + timedelta(hours=i), "trace must be gap-free hourly for this test"
        values.append(float(row[COLUMN]))
    return t0, values


def series_of(t0: datetime, values: list[float], step_min: int = 60, **kw) -> IntensitySeries:
    step = timedelta(minutes=step_min)
    pts = [IntensityPoint(t0 + i * step, t0 + (i + 1) * step, v) for i, v in enumerate(values)]
    return IntensitySeries(
        pts,
        kw.get("source", "test"),
        kw.get("region", "XX"),
        kw.get("signal_type", "average"),
        kw.get("kind", "forecast"),
        kw.get("generated_at"),
    )


def brute_force(t0, values, step_min, now, duration_min, window_end):
    """Independent reference: minute-by-minute integration over the allowed starts.

    Allowed starts: the earliest start (now, or the forecast start if later) and every
    point start after it, such that the whole job fits in the forecast and the window.
    Returns (best_start, best_mean, now_mean, n_candidates).
    """
    minute_vals = [v for v in values for _ in range(step_min)]
    f_end = t0 + timedelta(minutes=len(minute_vals))
    first = max(now, t0)
    last_end = min(window_end, f_end)

    def idx(ts):
        return int((ts - t0).total_seconds() // 60)

    starts = [first]
    k = 0
    while True:
        s = t0 + timedelta(minutes=k * step_min)
        if s + timedelta(minutes=duration_min) > last_end:
            break
        if s > first:
            starts.append(s)
        k += 1
    means = []
    for s in starts:
        a = idx(s)
        chunk = minute_vals[a : a + duration_min]
        assert len(chunk) == duration_min
        means.append((s, sum(chunk) / duration_min))
    lowest = min(m for _, m in means)
    best = next((s, m) for s, m in means if m <= lowest + 1e-9 * max(abs(lowest), 1.0))
    return best[0], best[1], means[0][1], len(means)


# --------------------------------------------------------------------------- real traces


@pytest.mark.parametrize("trace", ["CISO_2023_hourly.csv", "DE_2023_hourly.csv"])
def test_planner_matches_brute_force_on_real_traces(trace):
    t0, values = load_hourly(trace)
    rng = random.Random(hash(trace) & 0xFFFF)
    durations = [60, 120, 45, 90, 150, 200, 7 * 60 + 20, 11 * 60]  # multiples and not of the 1 h resolution
    checked = 0
    for _ in range(40):  # 40 random 24 h windows over the year
        day = rng.randrange(0, len(values) // 24 - 3)
        offset_min = rng.choice([0, 0, 17, 59])  # aligned "now" and mid-hour "now"
        now = t0 + timedelta(days=day, minutes=offset_min)
        fc_start_h = day * 24
        fc = values[fc_start_h : fc_start_h + 30]  # a 30 h forecast starting at the hour of "now"
        fc_t0 = t0 + timedelta(hours=fc_start_h)
        series = series_of(fc_t0, fc)
        window_end = now + timedelta(hours=24)
        for d in durations:
            plan = plan_best_start(series, timedelta(minutes=d), now=now, window_end=window_end)
            bs, bm, nm, n = brute_force(fc_t0, fc, 60, now, d, window_end)
            assert plan.best_start == bs, (trace, now, d)
            assert plan.best_mean_g_per_kwh == pytest.approx(bm, rel=1e-9)
            assert plan.now_mean_g_per_kwh == pytest.approx(nm, rel=1e-9)
            assert plan.candidates == n
            assert plan.best_end == bs + timedelta(minutes=d)
            assert plan.best_mean_g_per_kwh <= plan.now_mean_g_per_kwh
            assert plan.best_end <= window_end
            checked += 1
    assert checked == 40 * len(durations)


# --------------------------------------------------------------------------- hand-made forecasts


@pytest.mark.parametrize("step_min", [5, 15, 30, 60])
def test_planner_matches_brute_force_on_random_forecasts(step_min):
    rng = random.Random(step_min)
    t0 = datetime(2024, 3, 1, tzinfo=UTC)
    for trial in range(25):
        n = (24 * 60) // step_min + rng.randrange(0, 6)
        values = [round(rng.uniform(50, 600), rng.choice([0, 2])) for _ in range(n)]
        now = t0 + timedelta(minutes=rng.randrange(0, step_min))
        d = rng.choice([step_min, 2 * step_min, step_min + 7, 3 * step_min - 1, 95, 301])
        we = now + timedelta(hours=rng.choice([6, 12, 24]))
        if we - max(now, t0) < timedelta(minutes=d):
            continue
        plan = plan_best_start(series_of(t0, values, step_min), timedelta(minutes=d), now=now, window_end=we)
        bs, bm, nm, cnt = brute_force(t0, values, step_min, now, d, we)
        assert (plan.best_start, plan.candidates) == (bs, cnt), (step_min, trial)
        assert plan.best_mean_g_per_kwh == pytest.approx(bm, rel=1e-9)
        assert plan.now_mean_g_per_kwh == pytest.approx(nm, rel=1e-9)


def test_overlap_weighting_for_non_multiple_duration():
    # Carbon Aware SDK AverageOverPeriod example: (01:00, 30), (02:00, 100), (03:00, 50)
    # over 01:30-03:30 = 30/4 + 100/2 + 50/4 = 70.
    t0 = datetime(2024, 1, 1, 1, tzinfo=UTC)
    s = series_of(t0, [30, 100, 50])
    m = window_mean(s.points, t0 + timedelta(minutes=30), t0 + timedelta(minutes=150))
    assert m == pytest.approx(70.0)
    # a 90 min job: [01:00, 02:30) = (30*60 + 100*30) / 90
    plan = plan_best_start(s, "90m", now=t0)
    assert plan.now_mean_g_per_kwh == pytest.approx((30 * 60 + 100 * 30) / 90)
    # starts at 01:00 and 02:00 fit (02:00 + 90m = 03:30 <= 04:00); 03:00 does not
    assert plan.candidates == 2
    # 01:00 -> (30*60 + 100*30)/90 = 53.3; 02:00 -> (100*60 + 50*30)/90 = 83.3
    assert plan.best_start == t0
    assert plan.best_mean_g_per_kwh == pytest.approx((30 * 60 + 100 * 30) / 90)


def test_overlap_first_window_is_the_cheaper_one():
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    s = series_of(t0, [30, 100, 50, 40])
    plan = plan_best_start(s, "90m", now=t0)
    means = {st: m for st, m in plan.windows}
    assert means[t0] == pytest.approx((30 * 60 + 100 * 30) / 90)  # 53.33
    assert means[t0 + timedelta(hours=2)] == pytest.approx((50 * 60 + 40 * 30) / 90)  # 46.67
    assert plan.best_start == t0 + timedelta(hours=2)
    assert plan.saving_g_per_kwh == pytest.approx(means[t0] - means[t0 + timedelta(hours=2)])
    assert plan.saving_pct == pytest.approx(100 * plan.saving_g_per_kwh / means[t0])


def test_sdk_grid_reproduces_sdk_documented_rolling_average():
    # SDK doc example, 5-minute data [10, 20, 30, 40, 5], 10-minute window -> [15, 25, 35, 22.5]
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    s = series_of(t0, [10, 20, 30, 40, 5], step_min=5)
    plan = plan_best_start(s, "10m", now=t0, align="window_start")
    assert [m for _, m in plan.windows] == pytest.approx([15, 25, 35, 22.5])
    assert plan.best_start == t0 and plan.best_mean_g_per_kwh == pytest.approx(15)
    s2 = series_of(t0, [5, 55, 10, 10, 10], step_min=5)
    plan2 = plan_best_start(s2, "10m", now=t0, align="window_start")
    assert [m for _, m in plan2.windows] == pytest.approx([30, 32.5, 10, 10])
    assert plan2.best_start == t0 + timedelta(minutes=10)  # tie 10 == 10: the earliest


def test_sdk_grid_steps_from_unaligned_window_start():
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    s = series_of(t0, [100, 0, 100, 100])
    now = t0 + timedelta(minutes=30)
    sdk = plan_best_start(s, "1h", now=now, align="window_start")
    assert [w[0] for w in sdk.windows] == [now, now + timedelta(hours=1), now + timedelta(hours=2)]
    pts = plan_best_start(s, "1h", now=now, align="points")
    assert [w[0] for w in pts.windows] == [now] + [t0 + timedelta(hours=h) for h in (1, 2, 3)]
    assert pts.best_start == t0 + timedelta(hours=1) and pts.best_mean_g_per_kwh == 0
    assert sdk.best_mean_g_per_kwh == pytest.approx(50)


def test_ties_go_to_the_earliest_start_and_flat_forecast_saves_nothing():
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    plan = plan_best_start(series_of(t0, [200.0] * 24), "3h", now=t0)
    assert plan.best_start == t0 == plan.now_start
    assert plan.saving_g_per_kwh == 0 and plan.saving_pct == 0
    plan = plan_best_start(series_of(t0, [300, 100, 100, 300, 100, 100, 300]), "2h", now=t0)
    assert plan.best_start == t0 + timedelta(hours=1)


def test_project_and_metadata():
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    gen = t0 - timedelta(minutes=5)
    s = series_of(
        t0,
        [400, 400, 100, 100],
        source="WattTime",
        region="CAISO_NORTH",
        signal_type="marginal",
        generated_at=gen,
    )
    plan = plan_best_start(s, "2h", now=t0)
    assert (plan.source, plan.region, plan.signal_type, plan.generated_at) == (
        "WattTime",
        "CAISO_NORTH",
        "marginal",
        gen,
    )
    assert plan.duration == timedelta(hours=2) and plan.delay == timedelta(hours=2)
    proj = plan.project(2.5)
    assert proj.now_g == pytest.approx(1000) and proj.shifted_g == pytest.approx(250)
    assert proj.saving_g == pytest.approx(750) and proj.saving_pct == pytest.approx(75)
    d = plan.to_dict()
    json.dumps(d)
    assert d["best_start"] == "2024-01-01T02:00:00Z" and d["duration_s"] == 7200 and d["method"] == METHOD
    with pytest.raises(ValueError):
        plan.project(-1)


# --------------------------------------------------------------------------- bad input


T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_duration_longer_than_forecast_horizon():
    with pytest.raises(PlanError, match="longer than the forecast horizon"):
        plan_best_start(series_of(T0, [1.0] * 6), "7h", now=T0)


def test_window_shorter_than_duration():
    with pytest.raises(PlanError, match="shorter than the job"):
        plan_best_start(series_of(T0, [1.0] * 24), "5h", now=T0, window_end=T0 + timedelta(hours=4))


def test_window_in_the_past():
    with pytest.raises(PlanError, match="in the past"):
        plan_best_start(
            series_of(T0, [1.0] * 24),
            "1h",
            now=T0 + timedelta(days=2),
            window_start=T0,
            window_end=T0 + timedelta(hours=20),
        )


def test_window_start_in_the_past_is_moved_to_now():
    now = T0 + timedelta(hours=3)
    plan = plan_best_start(series_of(T0, [1.0, 1, 1, 1, 5, 5, 5, 5]), "1h", now=now, window_start=T0)
    assert plan.now_start == now and plan.window_start == now
    assert any("in the past" in n for n in plan.notes)


def test_forecast_starting_after_now_and_ending_before_window_end():
    now = T0 - timedelta(minutes=20)
    plan = plan_best_start(series_of(T0, [3.0, 2, 1, 4]), "1h", now=now)
    assert plan.now_start == T0 and plan.data_gap_at_start == timedelta(minutes=20)
    assert any("no intensity data covers the window start" in n for n in plan.notes)
    assert any("past the forecast's end" in n for n in plan.notes)
    assert plan.best_start == T0 + timedelta(hours=2)


def test_a_gap_covering_now_is_no_fake_now_start_with_zero_delay():
    # the data starts 12 h after now and is cleanest at once: the best start is 12 h away, so
    # the plan must say "wait 12 h" (delay 43,200 s), not "now_start 12 h away, delay 0"
    now = T0 - timedelta(hours=12)
    plan = plan_best_start(series_of(T0, [1.0, 5, 5, 5]), "1h", now=now)
    d = plan.to_dict()
    assert plan.best_start == T0 and d["delay_s"] == 12 * 3600.0
    assert d["data_gap_at_start_s"] == 12 * 3600.0 and d["window_start"].startswith(
        now.strftime("%Y-%m-%dT%H:%M")
    )
    assert any("no intensity data covers the window start" in n for n in d["notes"])


def test_forecast_ending_before_window():
    with pytest.raises(PlanError, match="before the planning window starts"):
        plan_best_start(series_of(T0, [1.0] * 3), "1h", now=T0 + timedelta(hours=5))


def test_unsorted_points_are_sorted_with_a_note():
    s = series_of(T0, [5, 4, 3, 1, 2, 6])
    ref = plan_best_start(s, "2h", now=T0)
    shuffled = IntensitySeries(list(reversed(s.points)), "t", "r", "average", "forecast")
    plan = plan_best_start(shuffled, "2h", now=T0)
    assert (plan.best_start, plan.best_mean_g_per_kwh) == (ref.best_start, ref.best_mean_g_per_kwh)
    assert any("sorted" in n for n in plan.notes)


def test_identical_duplicates_dropped_conflicting_refused():
    s = series_of(T0, [5, 4, 3, 1])
    dup = IntensitySeries(s.points + [s.points[1]], "t", "r", "average", "forecast")
    plan = plan_best_start(dup, "1h", now=T0)
    assert plan.best_start == T0 + timedelta(hours=3)
    assert any("duplicate" in n for n in plan.notes)
    bad = IntensitySeries(
        s.points + [IntensityPoint(s.points[1].start, s.points[1].end, 99.0)], "t", "r", "average", "forecast"
    )
    with pytest.raises(PlanError, match="conflicting"):
        plan_best_start(bad, "1h", now=T0)


def test_overlapping_points_refused():
    pts = [
        IntensityPoint(T0, T0 + timedelta(hours=1), 1.0),
        IntensityPoint(T0 + timedelta(minutes=30), T0 + timedelta(hours=2), 2.0),
    ]
    with pytest.raises(PlanError, match="overlap"):
        plan_best_start(IntensitySeries(pts, "t", "r", "average", "forecast"), "1h", now=T0)


def test_gap_refused_with_reason():
    s = series_of(T0, [5, 4, 3, 1, 2, 6])
    gappy = IntensitySeries(s.points[:2] + s.points[3:], "t", "r", "average", "forecast")
    with pytest.raises(PlanError, match="gap from 2024-01-01T02:00:00Z"):
        plan_best_start(gappy, "1h", now=T0)


def test_naive_timestamps_refused():
    naive = datetime(2024, 1, 1)
    pts = [IntensityPoint(naive, naive + timedelta(hours=1), 1.0)]
    with pytest.raises(PlanError, match="no timezone"):
        plan_best_start(IntensitySeries(pts, "t", "r", "average", "forecast"), "1h", now=T0)
    with pytest.raises(ValueError, match="no timezone"):
        plan_best_start(series_of(T0, [1.0] * 4), "1h", now=naive)


def test_empty_and_nan_forecasts_refused():
    with pytest.raises(PlanError, match="no points"):
        plan_best_start(IntensitySeries([], "t", "r", "average", "forecast"), "1h", now=T0)
    with pytest.raises(PlanError, match="non-finite"):
        plan_best_start(series_of(T0, [1.0, float("nan")]), "1h", now=T0)


def test_errors_are_user_errors():
    assert issubclass(PlanError, SciLightningError) and issubclass(PlanError, ValueError)


# --------------------------------------------------------------------------- findings / cross-check


def test_carbon_aware_findings():
    s = series_of(
        T0, [400, 300, 100, 100, 500, 500], source="WattTime", region="CAISO_NORTH", signal_type="marginal"
    )
    plan = plan_best_start(s, "2h", now=T0)
    f = carbon_aware_findings(plan, 2.0, T0 + timedelta(minutes=30))
    for key in (
        "actual_start",
        "best_start",
        "intensity_at_actual_start_g_per_kwh",
        "best_window_mean_g_per_kwh",
        "actual_window_mean_g_per_kwh",
        "saving_g",
        "saving_pct",
        "source",
        "region",
        "signal_type",
        "method",
    ):
        assert key in f
    assert f["method"] == "forecast-based projection, rolling window average weighted by overlap"
    assert f["intensity_at_actual_start_g_per_kwh"] == 400
    actual = (400 * 30 + 300 * 60 + 100 * 30) / 120  # 275
    assert f["actual_window_mean_g_per_kwh"] == pytest.approx(actual)
    assert f["best_window_mean_g_per_kwh"] == 100
    assert f["saving_g"] == pytest.approx(2.0 * (actual - 100))
    assert f["saving_pct"] == pytest.approx(100 * (actual - 100) / actual)
    assert (f["source"], f["region"], f["signal_type"]) == ("WattTime", "CAISO_NORTH", "marginal")
    assert f["best_start"] == "2024-01-01T02:00:00Z" and f["estimated"] is True
    json.dumps(f)
    late = carbon_aware_findings(plan, 2.0, T0 + timedelta(hours=5))
    assert late["saving_g"] is None and late["intensity_at_actual_start_g_per_kwh"] == 500
    assert any("does not cover" in n for n in late["notes"])


def test_cross_check_optimal():
    s = series_of(T0, [5, 55, 10, 10, 10], step_min=5)
    plan = plan_best_start(s, "10m", now=T0, align="window_start")
    ok = cross_check_optimal(plan, [(T0 + timedelta(minutes=10), 10.0), (T0 + timedelta(minutes=15), 10.0)])
    assert ok["agrees"], ok["reason"]
    bad = cross_check_optimal(plan, [IntensityPoint(T0, T0 + timedelta(minutes=10), 30.0)])
    assert not bad["agrees"] and "best means differ" in bad["reason"]
    wrong_value = cross_check_optimal(plan, [(T0 + timedelta(minutes=10), 9.0)])
    assert not wrong_value["agrees"] and "the forecast gives 10" in wrong_value["reason"]
    assert not cross_check_optimal(plan, [])["agrees"]


# --------------------------------------------------------------------------- purity


def test_planner_does_no_io(monkeypatch):
    """Planning, projecting and the findings run with files and the clock forbidden."""
    import builtins
    import io
    import os as os_module
    import pathlib

    import sci_lightning.shifting.planner as planner

    def forbidden(*args, **kwargs):
        raise AssertionError(f"the planner did I/O: {args!r}")

    class NoClock(datetime):
        @classmethod
        def now(cls, tz=None):
            raise AssertionError("the planner read the clock although `now` was given")

    for target, name in (
        (builtins, "open"),
        (io, "open"),
        (os_module, "open"),
        (os_module, "stat"),
        (os_module, "scandir"),
        (os_module, "listdir"),
        (pathlib.Path, "open"),
    ):
        monkeypatch.setattr(target, name, forbidden)
    monkeypatch.setattr(planner, "datetime", NoClock)
    plan = plan_best_start(series_of(T0, [400, 300, 100, 100, 500, 500]), "2h", now=T0)
    assert plan.best_start == T0 + timedelta(hours=2)
    assert plan.project(1.0).saving_g == pytest.approx(250.0)
    assert carbon_aware_findings(plan, 1.0, T0)["saving_g"] == pytest.approx(250.0)
    assert plan.to_dict()["best_start"] == "2024-01-01T02:00:00Z"


def test_planner_imports_nothing_that_reads_files():
    import ast

    import sci_lightning.shifting.planner as planner

    tree = ast.parse(Path(planner.__file__).read_text(encoding="utf-8"))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not imported & {"os", "pathlib", "json", "io", "shutil", "glob", "urllib", "http", "socket"}, (
        imported
    )
