"""SlotSchedule on a fake clock: a real tiny fit that runs only in its slots and pauses between them."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fake_nvml import StepMeter, TinyModule
from lightning.pytorch import Trainer
from scripted import BatchStepClock

from sci_lightning.errors import ConfigError
from sci_lightning.lightning.callback import EnergyCarbonCallback
from sci_lightning.lightning.checkpointing import AtomicCheckpointIO, LastCheckpoint
from sci_lightning.lightning.slot_schedule import SlotSchedule
from sci_lightning.settings import ScheduleConfig, coerce

T0 = datetime(2023, 6, 1, tzinfo=timezone.utc)
STEP = timedelta(minutes=10)  # each training step takes 10 fake minutes
SLOTS = [
    (T0, T0 + timedelta(hours=2)),
    (T0 + timedelta(hours=4), T0 + timedelta(hours=6)),
    (T0 + timedelta(hours=8), T0 + timedelta(hours=12)),
]
TOTAL_STEPS = 32


def _parts(out: Path, clock: BatchStepClock, **kw) -> tuple[SlotSchedule, EnergyCarbonCallback, list]:
    slots = SlotSchedule(
        SLOTS,
        deadline=kw.pop("deadline", T0 + timedelta(hours=12)),
        clock=clock,
        sleep=clock.sleep,
        tz=timezone.utc,
        stream=io.StringIO(),
        **kw,
    )
    energy = EnergyCarbonCallback(
        meters=[StepMeter("gpu", "GPU-a", 10.0)],
        output_dir=str(out),
        energy={"min_read_interval_s": 0},
        carbon={"provider": "static", "region": "FR"},
    )
    return slots, energy, [clock, slots, energy, LastCheckpoint(out / "checkpoints", every_min=None)]


def _fit(out: Path, callbacks: list, ckpt_path: str | None = None) -> Trainer:
    trainer = Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=TOTAL_STEPS,
        default_root_dir=str(out),
        callbacks=callbacks,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        plugins=[AtomicCheckpointIO()],
    )
    trainer.fit(TinyModule(n=64, batch_size=8), ckpt_path=ckpt_path)
    return trainer


def _report(out: Path) -> dict:
    return json.loads((out / "sci_report.json").read_text())


def _hours(iso: str) -> float:
    return (datetime.fromisoformat(iso) - T0).total_seconds() / 3600


def test_wait_pauses_in_process_twice_with_the_idle_energy_on_its_own_line(tmp_path):
    clock = BatchStepClock(T0, STEP)
    slots, energy, callbacks = _parts(tmp_path, clock)
    trainer = _fit(tmp_path, callbacks)
    assert trainer.global_step == TOTAL_STEPS and clock.slept_s == pytest.approx(4 * 3600)
    block = _report(tmp_path)["slots"]
    assert block["status"] == "completed"
    assert [(_hours(r["start"]), _hours(r["end"]), r["steps"]) for r in block["run"]] == [
        (0, 2, 12),
        (4, 6, 12),
        (8, pytest.approx(8 + 8 / 6), 8),
    ]
    assert [(_hours(p["start"]), _hours(p["end"])) for p in block["pauses"]] == [(2, 4), (6, 8)]
    meter = energy.meters[0]
    assert energy.result.it_energy_j == pytest.approx(meter.energy_j)  # the job, pauses included, exactly
    assert all(p["it_energy_j"] > 0 for p in block["pauses"])  # each pause measured in its own window
    assert sum(p["it_energy_j"] for p in block["pauses"]) < energy.result.it_energy_j


def test_when_pausing_would_miss_the_deadline_it_runs_straight_through(tmp_path):
    clock = BatchStepClock(T0, STEP)
    slots, energy, callbacks = _parts(tmp_path, clock, deadline=T0 + timedelta(hours=7))
    _fit(tmp_path, callbacks)
    # at 2 h: 20 steps x 10 min left; 4 h + 5 min + 3 h 20 min = 7 h 25 min > 7 h
    assert clock.slept_s == 0 and clock.now == T0 + TOTAL_STEPS * STEP
    block = _report(tmp_path)["slots"]
    assert block["pauses"] == [] and [r["steps"] for r in block["run"]] == [32]
    assert "Ran straight through" in block["notes"][0] and "deadline" in block["notes"][0]


def test_exit_pauses_twice_and_resumes_from_its_checkpoint_with_exact_totals(tmp_path):
    outs = [tmp_path / f"part{i}" for i in (1, 2, 3)]
    ckpt, results = None, []
    for out, start_h, steps_at_end in zip(outs, (0, 4, 8), (12, 24, 32)):
        # the next job starts at its sbatch --begin time
        clock = BatchStepClock(T0 + timedelta(hours=start_h), STEP)
        slots, energy, callbacks = _parts(out, clock, pause="exit")
        trainer = _fit(out, callbacks, ckpt_path=ckpt)
        assert trainer.global_step == steps_at_end and clock.slept_s == 0
        results.append(energy)
        if steps_at_end < TOTAL_STEPS:
            block = _report(out)["slots"]
            assert block["status"] == "paused" and _hours(block["next_start"]) == start_h + 4
            assert block["sbatch_begin"] == (T0 + timedelta(hours=start_h + 4)).strftime("%Y-%m-%dT%H:%M:%S")
            assert block["ckpt_path"] == str(out / "checkpoints" / "last.ckpt")
            assert f"sbatch --begin={block['sbatch_begin']}" in slots.stream.getvalue()
            ckpt = block["ckpt_path"]
    final = results[-1]
    assert [p["steps"] for p in final.parts] == [12, 12, 8] and final.unmeasured_s == 0
    assert [p["status"] for p in final.parts] == ["completed"] * 3
    assert final.result.it_energy_j == pytest.approx(sum(p["it_energy_j"] for p in final.parts))
    for earlier, part in zip(results[:2], final.parts[:2]):
        assert part["it_energy_j"] == pytest.approx(earlier.parts[-1]["it_energy_j"])
    block = _report(outs[-1])["slots"]
    assert block["status"] == "completed"
    assert [(_hours(r["start"]), r["steps"]) for r in block["run"]] == [(0, 12), (4, 12), (8, 8)]


def test_interrupt_settings_are_checked_like_the_other_durations():
    cfg = coerce(
        ScheduleConfig, {"mode": "interrupt", "pause": "exit", "deadline": "36h", "pause_cost": "0s"}
    )
    assert (cfg.mode, cfg.pause, cfg.min_slot) == ("interrupt", "exit", "30m")
    with pytest.raises(ConfigError, match="schedule.pause"):
        coerce(ScheduleConfig, {"pause": "nap"}, "schedule")
    with pytest.raises(ConfigError, match="schedule.min_slot"):
        coerce(ScheduleConfig, {"min_slot": "0s"}, "schedule")
    with pytest.raises(ConfigError, match="schedule.deadline"):
        coerce(ScheduleConfig, {"deadline": "36"}, "schedule")
    with pytest.raises(ConfigError, match="overlaps"):
        SlotSchedule(
            [(T0, T0 + timedelta(hours=2)), (T0 + timedelta(hours=1), T0 + timedelta(hours=3))],
            deadline=T0 + timedelta(hours=5),
        )


@pytest.mark.slow
def test_slots_planned_on_a_replayed_trace_are_the_ones_run(tmp_path):
    """The 48 h German excerpt shipped with the package, replayed; the plan of plan_interruptible is followed."""
    from sci_lightning.carbon import build_provider
    from sci_lightning.shifting.interruptible import plan_interruptible

    start = datetime(2023, 5, 31, tzinfo=timezone.utc)
    trace = build_provider({"provider": "trace", "trace_path": "sample:de_2023", "region": "DE"})
    steps = 84  # 14 h of work at 10 fake minutes a step
    plan = plan_interruptible(
        trace.history(start, start + timedelta(hours=48)),
        steps * STEP,
        deadline="48h",
        min_slot="1h",
        pause_cost="5m",
        now=start,
    )
    assert len(plan.slots) == 2
    clock = BatchStepClock(start, STEP)
    slots = SlotSchedule(
        plan.slots,
        deadline=plan.deadline_end,
        pause_cost=timedelta(minutes=5),
        clock=clock,
        sleep=clock.sleep,
    )
    energy = EnergyCarbonCallback(
        meters=[StepMeter("gpu", "GPU-a", 10.0)],
        output_dir=str(tmp_path),
        energy={"min_read_interval_s": 0},
        carbon={"provider": "static", "region": "DE"},
    )
    trainer = Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=steps,
        default_root_dir=str(tmp_path),
        callbacks=[clock, slots, energy],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    trainer.fit(TinyModule(n=64, batch_size=8))
    assert trainer.global_step == steps and clock.now <= plan.deadline_end
    block = _report(tmp_path)["slots"]
    assert len(block["pauses"]) == 2  # until the first slot, then overnight
    assert sum(r["steps"] for r in block["run"]) == steps
    for ran, planned in zip(block["run"], plan.slots, strict=True):
        assert (
            planned.start
            <= datetime.fromisoformat(ran["start"])
            < datetime.fromisoformat(ran["end"])
            <= planned.end
        )
    assert energy.result.it_energy_j == pytest.approx(energy.meters[0].energy_j)
