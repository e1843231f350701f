"""The interruptible planner against an independent brute force (every slot set on the grid),
on synthetic forecasts and on windows of the real 2023 hourly traces (skipped when absent),
plus its limiting cases and the plan command with interruptible=true."""

from __future__ import annotations

import io
import json
import math
import os
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sci_lightning.carbon.base import IntensityPoint, IntensitySeries
from sci_lightning.shifting.interruptible import plan_interruptible, slots_emissions_g
from sci_lightning.shifting.planner import plan_best_start

UTC = timezone.utc
T0 = datetime(2024, 3, 1, tzinfo=UTC)
DATA = Path(os.environ.get("SCI_CARBON_DATA", "/work/shared/data/carbon-intensity"))
if not DATA.is_dir():
    DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "carbon-intensity"


def series_of(values, t0=T0, step_min=60):
    step = timedelta(minutes=step_min)
    pts = [IntensityPoint(t0 + i * step, t0 + (i + 1) * step, float(v)) for i, v in enumerate(values)]
    return IntensitySeries(pts, "test", "XX", "average", "forecast")


def brute_force(points, t0, step_s, n_cells, horizon_s, dur_s, min_slot_s, pause_s, power_w, idle_w):
    """Least emissions over every slot set allowed by the discretisation (module docstring)."""
    cmin = max(1, math.ceil(min_slot_s / step_s - 1e-9))
    best = [math.inf, None]

    def cost(slots):
        ts = [(t0 + timedelta(seconds=a), t0 + timedelta(seconds=b)) for a, b in slots]
        return slots_emissions_g(points, ts, power_w, idle_w)

    def last_slots(done, run_s, start_cell):
        """Try every start of the last slot after the slots in ``done``."""
        n = len(done) + 1
        length = dur_s + (n - 1) * pause_s - run_s
        if length <= 1e-6 or (n > 1 and length < min_slot_s - 1e-6):
            return
        for a in range(start_cell, n_cells + 1):
            if a * step_s + length > horizon_s + 1e-6:
                break
            slots = done + [(a * step_s, a * step_s + length)]
            g = cost(slots)
            if g < best[0] - 1e-9 * max(g, 1.0):
                best[:] = [g, slots]

    def grow(done, run_s, start_cell):
        last_slots(done, run_s, start_cell)
        for a in range(start_cell, n_cells):
            for b in range(a + cmin, n_cells + 1):
                new_run = run_s + (b - a) * step_s
                n_after = len(done) + 2  # this slot and a last one
                if dur_s + (n_after - 1) * pause_s - new_run <= 1e-6:
                    break  # the job would be done inside this slot: it is then a last slot
                grow(done + [(a * step_s, b * step_s)], new_run, b)

    grow([], 0.0, 0)
    return best


def check_against_brute(series, now, dur_s, deadline_s, min_slot_s, pause_s, power_w=500.0, idle_w=0.0):
    plan = plan_interruptible(
        series,
        timedelta(seconds=dur_s),
        deadline=timedelta(seconds=deadline_s),
        min_slot=timedelta(seconds=min_slot_s),
        pause_cost=timedelta(seconds=pause_s),
        power_w=power_w,
        pause_idle_w=idle_w,
        now=now,
    )
    step_s = plan.step.total_seconds()
    horizon_s = (plan.deadline_end - plan.window_start).total_seconds()
    n_cells = int(math.floor(horizon_s / step_s + 1e-9))
    g, slots = brute_force(
        plan.best_single.points,
        plan.window_start,
        step_s,
        n_cells,
        horizon_s,
        dur_s,
        min_slot_s,
        pause_s,
        power_w,
        idle_w,
    )
    assert plan.emissions_g == pytest.approx(g, rel=1e-9, abs=1e-9), (plan.slots, slots)
    # the plan's own figures are those of its slots, recomputed independently
    ts = [(s.start, s.end) for s in plan.slots]
    assert slots_emissions_g(plan.best_single.points, ts, power_w, idle_w) == pytest.approx(
        plan.emissions_g, rel=1e-9
    )
    assert_feasible(plan, dur_s, min_slot_s, pause_s)
    return plan


def assert_feasible(plan, dur_s, min_slot_s, pause_s):
    n = len(plan.slots)
    run_s = sum(s.length.total_seconds() for s in plan.slots)
    assert run_s == pytest.approx(dur_s + (n - 1) * pause_s, abs=1e-3)
    assert plan.end <= plan.deadline_end  # the deadline is always met
    assert plan.slots[0].start >= plan.window_start
    for a, b in zip(plan.slots, plan.slots[1:]):
        assert a.end <= b.start
    if n > 1:
        assert all(s.length.total_seconds() >= min_slot_s - 1e-3 for s in plan.slots)
    assert plan.emissions_g <= plan.best_single_emissions_g * (1 + 1e-9) + 1e-9
    assert plan.best_single_emissions_g <= plan.now_emissions_g * (1 + 1e-9) + 1e-9


@pytest.mark.parametrize("seed", range(12))
def test_dp_matches_brute_force_on_synthetic_forecasts(seed):
    rng = random.Random(seed)
    step_min = rng.choice([30, 60])
    values = [rng.uniform(50, 600) for _ in range(14)]
    series = series_of(values, step_min=step_min)
    step_s = step_min * 60
    deadline_s = rng.randint(5, 9) * step_s + rng.choice([0, 0.4 * step_s])
    dur_s = rng.uniform(0.6, 3.7) * step_s  # not a multiple of the step
    min_slot_s = rng.choice([0.5, 1.0, 1.5, 2.0]) * step_s
    pause_s = rng.choice([0.0, 0.1, 0.35, 1.2]) * step_s
    idle_w = rng.choice([0.0, 0.0, 40.0])
    check_against_brute(series, T0, dur_s, deadline_s, min_slot_s, pause_s, idle_w=idle_w)


def load_points(name):
    from sci_lightning.carbon.trace import load_trace

    path = DATA / name
    if not path.is_file():
        pytest.skip(f"{path} not present (shared development data)")
    tr = load_trace(path)
    return [
        IntensityPoint(datetime.fromtimestamp(a, UTC), datetime.fromtimestamp(b, UTC), v)
        for a, b, v in zip(tr.starts_s, tr.ends_s, tr.values)
    ]


@pytest.mark.parametrize("name", ["CISO_2023_hourly.csv", "DE_2023_hourly.csv"])
def test_dp_matches_brute_force_on_real_traces(name):
    pts = load_points(name)
    rng = random.Random(name)
    for _ in range(8):
        i = rng.randrange(0, len(pts) - 24)
        window = pts[i : i + 12]
        series = IntensitySeries(window, name, "XX", "average", "measured")
        dur_s = rng.choice([1.5, 2.25, 3.4, 4.75]) * 3600
        check_against_brute(
            series,
            window[0].start,
            dur_s,
            rng.choice([7, 8, 9.5]) * 3600,
            rng.choice([1800, 3600, 7200]),
            rng.choice([0, 600, 1800, 3600]),
        )


def test_huge_pause_cost_is_the_best_single_start():
    values = [300, 100, 500, 90, 80, 400, 120, 70, 600, 200, 300, 250]
    series = series_of(values)
    plan = plan_interruptible(
        series, "3h", deadline="12h", min_slot="1h", pause_cost="100h", power_w=1000, now=T0
    )
    single = plan_best_start(series, "3h", now=T0, window_end=T0 + timedelta(hours=12))
    assert len(plan.slots) == 1
    assert plan.slots[0].start == single.best_start
    assert plan.emissions_g == pytest.approx(3 * single.best_mean_g_per_kwh)
    assert plan.saving_vs_best_start_g == pytest.approx(0.0, abs=1e-9)


def test_zero_pause_cost_and_step_slots_pick_the_cleanest_hours():
    rng = random.Random(7)
    values = [rng.uniform(100, 500) for _ in range(24)]
    series = series_of(values)
    plan = plan_interruptible(
        series, "5h", deadline="24h", min_slot="1h", pause_cost="0s", power_w=1000, now=T0
    )
    cleanest = sorted(range(24), key=lambda i: values[i])[:5]
    chosen = sorted(
        int((h - T0).total_seconds() // 3600)
        for s in plan.slots
        for h in (s.start + timedelta(hours=x) for x in range(int(s.length.total_seconds() // 3600)))
    )
    assert chosen == sorted(cleanest)
    assert plan.emissions_g == pytest.approx(sum(values[i] for i in cleanest))


def test_unaligned_now_and_fractional_deadline_are_met():
    series = series_of([400, 100, 400, 100, 400, 100, 400, 100, 400, 100])
    now = T0 + timedelta(minutes=20)
    plan = check_against_brute(series, now, 2.6 * 3600, 7.7 * 3600, 1800, 300)
    assert plan.window_start == now and plan.end <= now + timedelta(hours=7.7)


def test_plan_figures_and_dict():
    series = series_of([500, 100, 500, 100, 500, 500])
    plan = plan_interruptible(
        series, "2h", deadline="6h", min_slot="1h", pause_cost="0s", energy_kwh=2.0, now=T0
    )
    assert [(s.start.hour, s.end.hour) for s in plan.slots] == [(1, 2), (3, 4)]
    assert plan.power_w == pytest.approx(1000) and not plan.power_is_nominal
    assert plan.now_emissions_g == pytest.approx(2 * 300) and plan.emissions_g == pytest.approx(200)
    d = plan.to_dict()
    assert d["saving_vs_now_pct"] == pytest.approx(100 * 400 / 600)
    assert d["best_start_emissions_g"] == pytest.approx(2 * 300)
    assert len(d["slots"]) == 2 and d["estimated"] is True
    json.dumps(d)


def test_idle_power_counts():
    series = series_of([500, 100, 900, 100, 500, 500])
    free = plan_interruptible(
        series, "2h", deadline="6h", min_slot="1h", pause_cost="0s", power_w=1000, now=T0
    )
    costly = plan_interruptible(
        series, "2h", deadline="6h", min_slot="1h", pause_cost="0s", power_w=1000, pause_idle_w=1000, now=T0
    )
    assert len(free.slots) == 2 and len(costly.slots) == 1
    assert costly.idle_emissions_g == 0.0


# --------------------------------------------------------------------------- the plan command


def test_plan_command_interruptible_on_a_trace_file(tmp_path):
    from hydra import compose, initialize_config_dir

    from sci_lightning.app.plan import run_plan

    rows = ["timestamp,g_per_kwh"] + [
        f"2024-03-01T{h:02d}:00:00Z,{v}" for h, v in enumerate([500, 100, 500, 100, 500, 90] + [500] * 18)
    ]
    trace = tmp_path / "t.csv"
    trace.write_text("\n".join(rows) + "\n")
    conf = Path(__file__).resolve().parents[2] / "conf"
    overrides = [
        "carbon=trace",
        f"carbon.trace_path={trace}",
        "start=2024-03-01T00:00:00Z",
        "duration=3h",
        "interruptible=true",
        "deadline=20h",
        "min_slot=1h",
        "pause_cost=1s",
        "energy_kwh=3",
        f"plot_path={tmp_path / 'p.png'}",
    ]
    with initialize_config_dir(str(conf), version_base="1.3"):
        cfg = compose("plan", overrides=overrides)
        cfg_json = compose("plan", overrides=overrides + ["json=true", "plot=false"])
    out = io.StringIO()
    res = run_plan(cfg, output_dir=tmp_path, stream=out)
    text = out.getvalue()
    assert "slot 1" in text and "vs best single start" in text and "replay" in text
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert res["interruptible"]["emissions_g"] == pytest.approx(90 + 100 + 100 + 2 / 3600 * 500)
    out = io.StringIO()
    run_plan(cfg_json, output_dir=tmp_path, stream=out)
    data = json.loads(out.getvalue())
    slots = data["interruptible"]["slots"]
    assert [s["start"] for s in slots] == [
        "2024-03-01T01:00:00Z",
        "2024-03-01T03:00:00Z",
        "2024-03-01T05:00:00Z",
    ]
    assert data["interruptible"]["saving_vs_best_start_pct"] > 0
