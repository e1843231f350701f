"""lightning/parts.py: a part's own figures, the previous parts as a resumed part sees them
(completed, killed with the unmeasured gap, a legacy checkpoint, no energy state) and the notes
the report states about them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sci_lightning.accounting import WorkDone
from sci_lightning.energy.base import ComponentEnergy, Measurement
from sci_lightning.lightning.parts import adopt_previous, part_notes, part_record, unknown_part

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def _job(energy_j: float, duration_s: float, steps: int = 0, images: int = 0) -> Measurement:
    return Measurement(
        name="fit",
        components=[ComponentEnergy("gpu", "GPU-0", energy_j, "nvml_energy_counter", "measured")],
        duration_s=duration_s,
        started_at=T0,
        ended_at=_at(duration_s),
        timeline=[],
        steps=steps,
        images=images,
    )


@pytest.fixture(autouse=True)
def _not_under_slurm(monkeypatch):
    for name in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_RESTART_COUNT"):
        monkeypatch.delenv(name, raising=False)


def test_a_part_record_is_the_job_so_far_minus_the_previous_parts():
    record = part_record(
        _job(1000.0, 100.0),
        _job(400.0, 30.0),
        WorkDone(batches=7, optimizer_steps=7, samples=56, epochs=0.875),
        number=2,
        started_at=_at(200),
        now=_at(270),
        pue=1.5,
        status="completed",
        resumed_from="/run/checkpoints/last.ckpt",
    )
    assert record == {
        "part": 2,
        "started_at": "2026-01-01T00:03:20+00:00",
        "ended_at": "2026-01-01T00:04:30+00:00",
        "saved_at": "2026-01-01T00:04:30+00:00",
        "duration_s": 70.0,
        "it_energy_j": 600.0,
        "energy_j": 900.0,
        "batches": 7,
        "optimizer_steps": 7,
        "samples": 56,
        "epochs": 0.875,
        "steps": 7,  # the older names, kept for their readers
        "images": 56,
        "status": "completed",
        "training_done": False,
        "signal": None,
        "error": None,
        "resumed_from": "/run/checkpoints/last.ckpt",
        "checkpoint": None,
        "slurm": None,
    }


def test_a_first_part_is_the_whole_job_and_records_its_slurm_job(monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "41")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "2")
    record = part_record(
        _job(250.0, 10.0),
        None,
        WorkDone(),
        number=1,
        started_at=T0,
        now=_at(10),
        pue=1.0,
        status="interrupted",
        signal="SIGTERM",
    )
    assert (record["it_energy_j"], record["energy_j"], record["duration_s"]) == (250.0, 250.0, 10.0)
    assert record["status"] == "interrupted" and record["signal"] == "SIGTERM"
    assert record["slurm"] == {"job_id": "41", "restart_count": 2, "node": None, "node_list": None}


def test_a_checkpoint_without_energy_state_gives_one_unknown_part():
    part = unknown_part(WorkDone(None, 12, None, 1.5), ended_at=_at(60), checkpoint="old.ckpt")
    assert part["part"] == 1 and part["status"] == "unknown" and part["checkpoint"] == "old.ckpt"
    assert part["ended_at"] == part["saved_at"] == "2026-01-01T00:01:00+00:00"
    assert part["it_energy_j"] is None and part["energy_j"] is None and part["duration_s"] is None
    assert (part["optimizer_steps"], part["epochs"], part["batches"], part["steps"]) == (12, 1.5, None, None)
    assert unknown_part(WorkDone(), ended_at=None, checkpoint=None)["ended_at"] is None


def _saved(status: str, saved_s: float, **kw) -> dict:
    return {
        "part": 1,
        "started_at": T0.isoformat(),
        "ended_at": _at(saved_s).isoformat(),
        "saved_at": _at(saved_s).isoformat(),
        "it_energy_j": 100.0,
        "status": status,
        **kw,
    }


def test_a_part_still_running_in_its_checkpoint_was_killed_and_the_gap_is_unmeasured():
    saved = [_saved("running", 50)]
    parts, unmeasured_s = adopt_previous(saved, None, resumed_from="last.ckpt", started_at=_at(80), pue=1.0)
    assert unmeasured_s == 30.0
    assert parts == [
        {
            **saved[0],
            "status": "killed",
            "ended_at": _at(50).isoformat(),
            "unmeasured_after_s": 30.0,
            "checkpoint": "last.ckpt",
        }
    ]
    assert saved[0]["status"] == "running"  # the saved list is not changed


def test_a_part_that_had_finished_training_completed_and_nothing_is_unmeasured():
    saved = [_saved("running", 50, training_done=True)]
    parts, unmeasured_s = adopt_previous(saved, None, resumed_from="last.ckpt", started_at=_at(500), pue=1.0)
    assert unmeasured_s == 0.0
    assert parts[0]["status"] == "completed" and parts[0]["checkpoint"] == "last.ckpt"
    assert "unmeasured_after_s" not in parts[0]


def test_an_ended_part_keeps_its_status_and_its_own_checkpoint():
    saved = [_saved("killed", 10, unmeasured_after_s=5.0, checkpoint="a.ckpt"), _saved("interrupted", 90)]
    parts, unmeasured_s = adopt_previous(saved, None, resumed_from="b.ckpt", started_at=_at(100), pue=1.0)
    assert unmeasured_s == 5.0  # the earlier killed part's gap, carried
    assert [p["status"] for p in parts] == ["killed", "interrupted"]
    assert [p["checkpoint"] for p in parts] == ["a.ckpt", "b.ckpt"]


def test_a_clock_gone_backwards_is_no_negative_gap():
    parts, unmeasured_s = adopt_previous(
        [_saved("running", 50)], None, resumed_from=None, started_at=_at(40), pue=1.0
    )
    assert unmeasured_s == 0.0 and parts[0]["unmeasured_after_s"] == 0.0


def test_a_checkpoint_from_before_parts_were_recorded_is_one_part_of_its_energy():
    prior = _job(720.0, 36.0, steps=9, images=72)
    parts, unmeasured_s = adopt_previous([], prior, resumed_from="old.ckpt", started_at=_at(100), pue=1.25)
    assert unmeasured_s == 0.0
    (legacy,) = parts
    assert (legacy["it_energy_j"], legacy["energy_j"], legacy["duration_s"]) == (720.0, 900.0, 36.0)
    assert (legacy["batches"], legacy["samples"], legacy["optimizer_steps"], legacy["epochs"]) == (
        9,
        72,
        None,
        None,
    )
    assert legacy["status"] == "unknown" and legacy["checkpoint"] == "old.ckpt"
    assert adopt_previous([], None, resumed_from=None, started_at=T0, pue=1.0) == ([], 0.0)


def test_the_notes_list_the_parts_of_a_resumed_job():
    parts = [
        {**_saved("interrupted", 10), "signal": "SIGTERM"},
        {**_saved("completed", 90), "part": 2, "started_at": _at(20).isoformat(), "it_energy_j": 12.345},
    ]
    (note,) = part_notes(parts, 0.0)
    assert note == (
        "Resumed job in 2 parts; the totals are the sum of the measured parts. "
        "part 1: 2026-01-01T00:00:00+00:00 to 2026-01-01T00:00:10+00:00, 100.0 J IT, interrupted (SIGTERM); "
        "part 2: 2026-01-01T00:00:20+00:00 to 2026-01-01T00:01:30+00:00, 12.3 J IT, completed."
    )
    assert part_notes(parts[:1], 0.0) == []  # one part: nothing to say


def test_the_notes_state_a_killed_parts_unmeasured_gap():
    parts, unmeasured_s = adopt_previous(
        [_saved("running", 50)], None, resumed_from="last.ckpt", started_at=_at(80), pue=1.0
    )
    (note,) = part_notes(parts, unmeasured_s)
    assert note.startswith(
        "Part 1 was killed after its last checkpoint (2026-01-01T00:00:50+00:00): the 30.0 s of wall time"
        " from that checkpoint to the start of the next part were not measured;"
    )


def test_the_notes_say_the_energy_before_a_checkpoint_without_energy_state_is_unknown():
    part = unknown_part(WorkDone(None, 12, None, None), ended_at=_at(60), checkpoint="old.ckpt")
    notes = part_notes([part], 0.0)
    assert notes == [
        "Resumed from a checkpoint without energy state (old.ckpt): the energy of the training before it"
        " (12 optimizer steps, an unknown number of epochs) is unknown and not included; the job's energy,"
        " batches, samples and epochs cover the measured parts only."
    ]
    part["epochs"] = 1.5
    assert "(12 optimizer steps, 1.5 epochs)" in part_notes([part], 0.0)[0]


def test_unmeasured_time_without_a_killed_part_is_stated_alone():
    assert part_notes([], 12.34) == ["12.3 s of wall time were not measured."]
    assert part_notes([], 0.0) == []


def _part(n: int, start_s: float, end_s: float, restarts: int | None) -> dict:
    slurm = (
        None
        if restarts is None
        else {"job_id": "9", "restart_count": restarts, "node": "n1", "node_list": "n1"}
    )
    return {
        "part": n,
        "started_at": (T0 + timedelta(seconds=start_s)).isoformat(),
        "ended_at": (T0 + timedelta(seconds=end_s)).isoformat(),
        "saved_at": (T0 + timedelta(seconds=end_s)).isoformat(),
        "it_energy_j": 1.0,
        "status": "interrupted",
        "signal": "SIGTERM",
        "slurm": slurm,
    }


def test_requeue_gaps_are_stated_as_not_measured():
    notes = part_notes([_part(1, 0, 10, 0), _part(2, 130, 140, 1), _part(3, 300, 310, 2)], 0.0)
    gaps = [n for n in notes if "were not measured" in n]
    assert len(gaps) == 2
    assert "Part 2 is SLURM job 9's run 2: the 120.0 s from part 1's end" in gaps[0]
    assert "the 160.0 s from part 2's end" in gaps[1]
    assert not [n for n in part_notes([_part(1, 0, 10, None), _part(2, 30, 40, None)], 0.0) if "SLURM" in n]


def test_a_killed_parts_gap_is_not_stated_twice_as_a_requeue():
    killed = {**_part(1, 0, 10, 0), "status": "killed", "unmeasured_after_s": 50.0}
    notes = part_notes([killed, _part(2, 60, 70, 1)], 50.0)
    assert [n for n in notes if "SLURM" in n] == []
    assert sum("50.0 s" in n for n in notes) == 1
