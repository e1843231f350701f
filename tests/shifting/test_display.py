"""shifting/display.py: the tables, the countdown line and the PNG chart of a plan."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sci_lightning.carbon.base import IntensityPoint, IntensitySeries
from sci_lightning.shifting.display import (
    countdown_line,
    format_interruptible_table,
    format_table,
    plot_plan,
    plot_result,
)
from sci_lightning.shifting.interruptible import plan_interruptible
from sci_lightning.shifting.planner import plan_best_start

T0 = datetime(2024, 6, 1, tzinfo=timezone.utc)
VALUES = [400.0, 380.0, 300.0, 200.0, 150.0, 180.0, 260.0, 350.0, 420.0, 410.0, 300.0, 220.0] * 2


def _series() -> IntensitySeries:
    pts = [
        IntensityPoint(T0 + timedelta(hours=i), T0 + timedelta(hours=i + 1), v) for i, v in enumerate(VALUES)
    ]
    return IntensitySeries(pts, "test source", "XX", "marginal", "forecast", generated_at=T0)


def test_countdown_line_rounds_up_to_the_second_and_names_the_target():
    plan = plan_best_start(_series(), "3h", now=T0)
    line = countdown_line(plan, plan.best_start, timedelta(hours=1, minutes=2, seconds=3.2))
    assert line.startswith("Waiting for the low-carbon start 2024-06-01 03:00 UTC (177 vs 360 g/kWh now)")
    assert "1:02:04 left (Ctrl-C to cancel)" in line
    assert "0:00:00 left" in countdown_line(plan, plan.best_start, timedelta(seconds=-5))


def test_format_table_lists_both_starts_and_the_projection_when_given():
    plan = plan_best_start(_series(), "3h", now=T0)
    bare = format_table(plan, {"slurm_begin": "2024-06-01T03:00:00"})
    assert "best start  2024-06-01 03:00 UTC" in bare and "run now     2024-06-01 00:00 UTC" in bare
    assert "(give energy_kwh=<kWh> to project grams of CO2e and SCI)" in bare
    assert "saving: 183.3 gCO2e/kWh (50.9%) by starting 3h later" in bare
    proj = {
        "operational_now_g": 720.0,
        "operational_shifted_g": 353.3,
        "sci_now_g_per_unit": 720.0,
        "sci_shifted_g_per_unit": 353.3,
        "saving_g": 366.7,
        "energy_kwh": 2.0,
    }
    full = format_table(plan, {"slurm_begin": "x", "projection": proj, "plot": "/tmp/p.png"})
    assert "operational g" in full and "; 366.7 gCO2e for 2 kWh" in full
    assert full.splitlines()[-1] == "plot: /tmp/p.png"


def test_interruptible_table_has_a_row_per_slot():
    iplan = plan_interruptible(_series(), "4h", deadline="20h", min_slot="1h", pause_cost="10m", now=T0)
    text = format_interruptible_table(iplan, {"slurm_begin": "b", "plot_error": "no disk"})
    rows = [line for line in text.splitlines() if line.startswith("slot ")]
    assert len(rows) == len(iplan.slots) >= 1
    assert text.splitlines()[-1] == "plot not written: no disk"


def test_plot_writes_a_png_and_a_failure_is_reported_not_raised(tmp_path):
    plan = plan_best_start(_series(), "3h", now=T0)
    path = plot_plan(plan, tmp_path / "sub" / "plan.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    failed = plot_result(plan, blocker / "plan.png")
    assert failed["plot"] is None and failed["plot_error"]
