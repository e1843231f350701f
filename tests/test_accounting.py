"""accounting.py: the plain data of the accounting model (docs/accounting.md): work done, its sum
over parts, a saved part's work, fractional epochs, a stage's record."""

from __future__ import annotations

from fractions import Fraction

import pytest

from sci_lightning.accounting import (
    FIT,
    PART_STATUSES,
    STAGES,
    EpochTally,
    StageRecord,
    WorkDone,
    part_work,
    sum_work,
)


def test_the_stage_and_part_status_names():
    assert FIT == "fit" and STAGES == ("fit", "validate", "test", "predict", "tune")
    assert PART_STATUSES == ("running", "completed", "interrupted", "failed", "killed", "unknown")


def test_work_done_starts_at_zero_and_is_plain_data():
    assert WorkDone().to_dict() == {"batches": 0, "optimizer_steps": 0, "samples": 0, "epochs": 0.0}
    assert WorkDone(3, 1, 24, 0.375).to_dict() == {
        "batches": 3,
        "optimizer_steps": 1,
        "samples": 24,
        "epochs": 0.375,
    }


def test_the_jobs_work_is_the_sum_of_its_parts():
    job = sum_work([WorkDone(6, 6, 48, 0.75), WorkDone(2, 1, 16, 0.25)])
    assert job == WorkDone(batches=8, optimizer_steps=7, samples=64, epochs=1.0)
    assert sum_work([]) == WorkDone()


def test_a_figure_unknown_in_one_part_is_unknown_for_the_job_the_others_still_add_up():
    job = sum_work([WorkDone(6, 6, 48, 0.75), WorkDone(4, None, 32, None)])
    assert job == WorkDone(batches=10, optimizer_steps=None, samples=80, epochs=None)
    # unknown stays unknown even when a later part knows it
    assert sum_work([WorkDone(1, None, 8, None), WorkDone(1, 1, 8, 0.5)]).epochs is None


def test_a_saved_part_record_gives_its_work():
    record = {"batches": 5, "optimizer_steps": 2, "samples": 40, "epochs": 0.625, "steps": 99, "images": 99}
    assert part_work(record) == WorkDone(5, 2, 40, 0.625)  # the new names win over the old


def test_an_older_part_record_steps_were_batches_and_images_samples():
    assert part_work({"steps": 7, "images": 56}) == WorkDone(
        batches=7, optimizer_steps=None, samples=56, epochs=None
    )
    assert part_work({}) == WorkDone(None, None, None, None)


def test_epochs_are_exact_fractions_of_the_batches_run():
    tally = EpochTally()
    assert tally.epochs == 0.0
    for _ in range(3):
        tally.add_batch(3)
    assert tally.epochs == 1.0 and tally.done == Fraction(1)  # not 0.999...
    for _ in range(7):
        tally.add_batch(32)
    assert tally.epochs == pytest.approx(1.21875) and tally.done == Fraction(39, 32)


@pytest.mark.parametrize("per_epoch", [None, float("inf"), 0, -1])
def test_a_batch_of_an_epoch_of_unknown_length_makes_the_tally_unknown(per_epoch):
    tally = EpochTally()
    tally.add_batch(4)
    tally.add_batch(per_epoch)
    assert tally.known is False and tally.epochs is None
    tally.add_batch(4)
    assert tally.epochs is None  # stays unknown


def test_a_stage_record_is_plain_data_with_its_defaults():
    record = StageRecord(
        stage="test",
        started_at="2026-01-01T00:00:00+00:00",
        ended_at="2026-01-01T00:00:10+00:00",
        duration_s=10.0,
        energy_kwh=1.5e-5,
        it_energy_kwh=1e-5,
        pue=1.5,
        samples=64,
        batches=8,
        quality="estimated",
    )
    d = record.to_dict()
    assert d["stage"] == "test" and d["energy_kwh"] == 1.5e-5 and d["samples"] == 64
    assert (d["methods"], d["method"], d["status"], d["world_size"], d["notes"]) == (
        [],
        None,
        "completed",
        1,
        [],
    )
    assert StageRecord(**d) == record
