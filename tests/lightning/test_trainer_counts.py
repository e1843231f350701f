"""What the Trainer says about the work (sci_lightning.lightning.trainer_counts), read from
Trainer-shaped objects holding exactly the attributes these functions read."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.callbacks import BatchSizeFinder, EarlyStopping, LearningRateFinder

from sci_lightning.lightning.trainer_counts import (
    batch_size,
    batches_per_epoch,
    is_last_batch,
    log_step,
    training_done,
    tuner_method,
)


@dataclass
class _Batch:
    images: torch.Tensor
    labels: torch.Tensor


@pytest.mark.parametrize(
    "batch, size",
    [
        (torch.zeros(7, 3), 7),
        ((torch.zeros(5, 3, 8, 8), torch.zeros(5)), 5),
        ({"x": torch.zeros(4, 2), "y": torch.zeros(4)}, 4),
        (_Batch(torch.zeros(6, 3), torch.zeros(6)), 6),
        ("no tensor here", None),
    ],
)
def test_batch_size_is_found_as_lightning_finds_it(batch, size):
    assert batch_size(batch) == size


def test_a_batch_size_fn_wins_over_the_tensors():
    assert batch_size((torch.zeros(5, 3), torch.zeros(5)), batch_size_fn=lambda b: 3 * len(b)) == 6


@pytest.mark.parametrize("n, expected", [(12, 12), (2.5, 2.5), (float("inf"), None), (0, None), (None, None)])
def test_batches_per_epoch_is_none_when_lightning_does_not_know(n, expected):
    assert batches_per_epoch(SimpleNamespace(num_training_batches=n)) == expected


def _trainer(*, last_batch=False, epoch=0, max_epochs=3, step=0, max_steps=-1, stop=False, stepped=None):
    progress = SimpleNamespace(is_last_batch=last_batch)
    epoch_loop = SimpleNamespace(batch_progress=progress)
    if stepped is not None:
        epoch_loop._batches_that_stepped = stepped
    return SimpleNamespace(
        fit_loop=SimpleNamespace(epoch_loop=epoch_loop),
        current_epoch=epoch,
        max_epochs=max_epochs,
        global_step=step,
        max_steps=max_steps,
        should_stop=stop,
    )


def test_training_is_done_after_the_last_batch_of_the_last_epoch_only():
    assert training_done(_trainer(last_batch=True, epoch=2, max_epochs=3))
    assert not training_done(_trainer(last_batch=True, epoch=1, max_epochs=3))
    assert not training_done(_trainer(last_batch=False, epoch=2, max_epochs=3))
    assert not training_done(_trainer(last_batch=True, epoch=5, max_epochs=-1))  # no epoch limit


def test_training_is_done_when_stopped_or_at_max_steps():
    assert training_done(_trainer(stop=True))
    assert training_done(_trainer(step=10, max_steps=10))
    assert not training_done(_trainer(step=9, max_steps=10))


def test_is_last_batch_reads_lightnings_flag_and_is_false_outside_a_fit():
    assert is_last_batch(_trainer(last_batch=True))
    assert not is_last_batch(_trainer(last_batch=False))
    assert not is_last_batch(SimpleNamespace())


def test_log_step_is_the_batches_that_stepped_or_the_global_step_outside_a_fit_loop():
    assert log_step(_trainer(step=9, stepped=4)) == 4
    assert log_step(_trainer(step=9)) == 9
    assert log_step(SimpleNamespace()) == 0


@pytest.mark.parametrize(
    "callbacks, method",
    [
        ([EarlyStopping(monitor="val_loss"), BatchSizeFinder()], "scale_batch_size"),
        ([LearningRateFinder()], "lr_find"),
        ([EarlyStopping(monitor="val_loss")], None),
        ([], None),
    ],
)
def test_the_tuner_driving_a_fit_is_named(callbacks, method):
    assert tuner_method(SimpleNamespace(callbacks=callbacks)) == method
