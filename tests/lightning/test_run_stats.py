"""RunStats (sci_lightning.lightning.run_stats): training images over all ranks and the fit's wall
time, on a scripted clock, saved in and restored from the checkpoint state."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
import torch

from sci_lightning.lightning.run_stats import RunStats


@pytest.fixture
def clock(script_clock, monkeypatch):
    """``time.perf_counter`` reads the scripted clock for this test."""
    monkeypatch.setattr(time, "perf_counter", script_clock)
    return script_clock


def _batch(n: int):
    return torch.zeros(n, 3), torch.zeros(n)


def test_images_are_batch_size_times_world_size_per_step():
    stats, trainer = RunStats(), SimpleNamespace(world_size=4)
    for n in (8, 8, 3):
        stats.on_train_batch_end(trainer, None, None, _batch(n), 0)
    assert stats.images == (8 + 8 + 3) * 4


@pytest.mark.parametrize("batch", [None, (torch.zeros(2, 3),), {"x": torch.zeros(2)}, ("a", "b")])
def test_a_batch_without_sized_labels_is_not_counted_and_never_raises(batch):
    stats = RunStats()
    stats.on_train_batch_end(SimpleNamespace(world_size=1), None, None, batch, 0)
    assert stats.images == 0


def test_wall_time_runs_from_fit_start_to_fit_end_or_an_exception(clock):
    stats = RunStats()
    stats.on_fit_start(None, None)
    clock.advance(12.5)
    stats.on_fit_end(None, None)
    clock.advance(100.0)  # after the fit: not counted
    stats.on_fit_start(None, None)
    clock.advance(2.0)
    stats.on_exception(None, None, RuntimeError("x"))
    stats.on_exception(None, None, RuntimeError("again"))  # a second stop adds nothing
    assert stats.fit_wall_s == 14.5


def test_a_checkpoint_taken_mid_fit_holds_the_time_so_far_and_resume_adds_to_it(clock):
    first = RunStats()
    first.on_fit_start(None, None)
    first.on_train_batch_end(SimpleNamespace(world_size=2), None, None, _batch(5), 0)
    clock.advance(30.0)
    state = first.state_dict()
    assert state == {"images": 10, "fit_wall_s": 30.0}

    resumed = RunStats()
    resumed.load_state_dict(state)
    resumed.on_fit_start(None, None)
    resumed.on_train_batch_end(SimpleNamespace(world_size=2), None, None, _batch(5), 0)
    clock.advance(20.0)
    resumed.on_fit_end(None, None)
    assert (resumed.images, resumed.fit_wall_s) == (20, 50.0)


def test_an_old_checkpoint_without_the_state_starts_from_zero():
    stats = RunStats()
    stats.images, stats.fit_wall_s = 7, 3.0
    stats.load_state_dict({})
    assert (stats.images, stats.fit_wall_s) == (0, 0.0)
