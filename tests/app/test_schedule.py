"""schedule=interrupt in the app: a real quickstart fit on a fake clock and a replayed trace CSV."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from scripted import BatchStepClock

T0 = datetime(2023, 6, 1, tzinfo=timezone.utc)
STEP = timedelta(minutes=20)  # each training step takes 20 fake minutes
# clean 0-2 h (100), 4-6 h (120) and 8-9 h (110), dirty between; repeats
PATTERN = [100, 100, 500, 500, 120, 120, 600, 600, 110, 700, 700, 700]
STEPS = 15  # 5 h of work: 2 h + 2 h + 1 h in three slots


def _trace(tmp_path: Path) -> Path:
    path = tmp_path / "trace.csv"
    rows = [
        f"{(T0 + timedelta(hours=i)).strftime('%Y-%m-%dT%H:%M:%SZ')},{v}" for i, v in enumerate(PATTERN * 4)
    ]
    path.write_text("datetime,g_per_kwh\n" + "\n".join(rows) + "\n")
    return path


def _overrides(tmp_path: Path, out: Path, *extra: str) -> list[str]:
    from tiny_run import SMALL_NET, TINY_FIT

    return [
        "experiment=quickstart",
        *SMALL_NET,  # the slots count steps, whatever the network
        *TINY_FIT,
        "trainer.max_epochs=100",
        f"trainer.max_steps={STEPS}",
        "trainer.limit_train_batches=4",
        f"output_dir={out}",
        "carbon=trace",
        f"carbon.trace_path={_trace(tmp_path)}",
        "carbon.trace_replay=false",
        "schedule=interrupt",
        "schedule.duration=5h",
        "schedule.deadline=12h",
        "schedule.min_slot=1h",
        "schedule.pause_cost=0s",
        "tensorboard=false",
        *extra,
    ]


def _hours(iso: str) -> float:
    return (datetime.fromisoformat(iso) - T0).total_seconds() / 3600


@pytest.mark.slow
def test_wait_pauses_twice_and_the_report_shows_the_slots_with_their_intensity(compose, tmp_path, capsys):
    from sci_lightning.app.train import run

    out = tmp_path / "run"
    clock = BatchStepClock(T0, STEP)
    run(compose(_overrides(tmp_path, out)), clock=clock, sleep=clock.sleep, callbacks=[clock])
    printed = capsys.readouterr().out
    assert "Interruptible plan for a 5h job" in printed and "saving vs running now" in printed
    report = json.loads((out / "sci_report.json").read_text())
    block = report["slots"]
    assert block["status"] == "completed" and report["status"] == "completed"
    assert [(_hours(r["start"]), _hours(r["end"]), r["steps"]) for r in block["run"]] == [
        (0, 2, 6),
        (4, 6, 6),
        (8, 9, 3),
    ]
    assert [r["mean_g_per_kwh"] for r in block["run"]] == pytest.approx([100, 120, 110])
    assert len(block["pauses"]) == 2 and clock.slept_s == pytest.approx(4 * 3600)
    assert sum(r["steps"] for r in block["run"]) == report["training"]["steps"] == STEPS
    md = (out / "sci_report.md").read_text()
    assert "## Run slots (schedule=interrupt)" in md and "| 2 | 2023-06-01T04:00:00+00:00" in md
    assert md.count("pause ") >= 2 and "idle energy" in md
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["status"] == "completed"


@pytest.mark.slow
def test_exit_pauses_twice_and_resumes_from_its_checkpoint_with_exact_totals(compose, tmp_path, capsys):
    from sci_lightning.app.train import run

    ckpt, energies = None, []
    for part, start_h in enumerate((0, 4, 8), 1):
        out = tmp_path / f"part{part}"
        # the resubmitted job starts at its sbatch --begin time
        clock = BatchStepClock(T0 + timedelta(hours=start_h), STEP)
        extra = ["schedule.pause=exit"] + ([f"ckpt_path={ckpt}"] if ckpt else [])
        if part < 3:
            with pytest.raises(SystemExit) as stop:
                run(
                    compose(_overrides(tmp_path, out, *extra)),
                    clock=clock,
                    sleep=clock.sleep,
                    callbacks=[clock],
                )
            assert stop.value.code == 75
            err = capsys.readouterr().err
            assert (
                f"sbatch --begin={(T0 + timedelta(hours=start_h + 4)).astimezone():%Y-%m-%dT%H:%M:%S}" in err
            )
            ckpt = str(out / "checkpoints" / "last.ckpt")
            assert f"resume with: ckpt_path={ckpt}" in err
            assert json.loads((out / "run_summary.json").read_text())["status"] == "paused"
            report = json.loads((out / "sci_report.json").read_text())
            assert report["status"] == "paused" and report["slots"]["status"] == "paused"
        else:
            run(compose(_overrides(tmp_path, out, *extra)), clock=clock, sleep=clock.sleep, callbacks=[clock])
            report = json.loads((out / "sci_report.json").read_text())
        energies.append(json.loads((out / "energy.json").read_text()))
        assert clock.slept_s == 0
    assert report["status"] == "completed"
    block = report["slots"]
    assert [(_hours(r["start"]), r["steps"]) for r in block["run"]] == [(0, 6), (4, 6), (8, 3)]
    assert [r["mean_g_per_kwh"] for r in block["run"]] == pytest.approx([100, 120, 110])
    parts = report["parts"]
    assert [p["steps"] for p in parts] == [6, 6, 3] and report["training"]["steps"] == STEPS
    total_kwh = report["energy_kwh"]["total"]
    assert total_kwh == pytest.approx(sum(p["energy_j"] for p in parts) / 3.6e6, rel=1e-9)
    md = (tmp_path / "part3" / "sci_report.md").read_text()
    assert "## Run slots (schedule=interrupt)" in md and md.count("| 2023-06-01T") >= 3


def test_pause_exit_without_max_steps_is_refused_before_training(compose, tmp_path):
    from sci_lightning.app.train import run
    from sci_lightning.errors import ConfigError

    overrides = [
        o
        for o in _overrides(tmp_path, tmp_path / "run", "schedule.pause=exit")
        if not o.startswith("trainer.max_steps")
    ]
    with pytest.raises(ConfigError, match="trainer.max_steps"):
        run(compose(overrides))
