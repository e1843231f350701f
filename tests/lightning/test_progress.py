"""lightning/progress.py: one plain progress line per training epoch, in real (tiny, CPU) fits on a
scripted clock (1 s a training step) with a scripted 10 W meter, so every figure on the line is exact."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch import Trainer
from scripted import ConstantPowerMeter, ScriptClock, ScriptedModule, quiet_trainer

from sci_lightning.lightning import progress
from sci_lightning.lightning.callback import EnergyCarbonCallback
from sci_lightning.lightning.progress import ProgressLines, _bar_metrics, _energy_text


class _BarModule(ScriptedModule):
    """Logs known progress-bar metrics: ``train/seen`` (the batch index: epoch mean 1.5 over 4
    batches) on step and epoch, ``lr`` on step only, and a string Lightning leaves off the bar."""

    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        self.log("train/seen", float(batch_idx), prog_bar=True, on_step=True, on_epoch=True)
        self.log("lr", 0.01, prog_bar=True, on_step=True, on_epoch=False)
        return loss


@pytest.fixture
def clock(monkeypatch) -> ScriptClock:
    """The scripted clock, also the progress line's elapsed-time clock."""
    clock = ScriptClock()
    monkeypatch.setattr(progress, "time", SimpleNamespace(monotonic=clock))
    return clock


def _fit(tmp_path: Path, clock: ScriptClock, callbacks: list, model=None, **kw) -> Trainer:
    kw.setdefault("max_epochs", 2)
    trainer = quiet_trainer(
        tmp_path,
        callbacks,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        **kw,
    )
    trainer.fit(model or _BarModule(clock, n=32, batch_size=8))  # 4 batches an epoch, 1 s each
    return trainer


def _energy(clock: ScriptClock, tmp_path: Path, pue: float = 1.0) -> EnergyCarbonCallback:
    return EnergyCarbonCallback(
        energy={"pue": pue},
        meters=[ConstantPowerMeter(clock, 10.0)],
        output_dir=str(tmp_path / "out"),
        clock=clock,
        compute_sci=False,
    )


def test_one_exact_line_per_epoch_with_metrics_energy_and_time(tmp_path, clock):
    stream = io.StringIO()
    _fit(tmp_path, clock, [_energy(clock, tmp_path, pue=1.5), ProgressLines(stream)])
    assert stream.getvalue().splitlines() == [
        # 4 s at 10 W x PUE 1.5 = 60 J = 0.0167 Wh; 4 s for 4 of 8 steps: 4 s left
        "epoch 1/2 | step 4/8 | lr 0.01 | train/seen 1.5 | energy 0.0167 Wh | 4s elapsed | ~4s left",
        "epoch 2/2 | step 8/8 | lr 0.01 | train/seen 1.5 | energy 0.0333 Wh | 8s elapsed | ~0s left",
    ]


def test_without_an_energy_callback_the_line_has_no_energy(tmp_path, clock):
    stream = io.StringIO()
    _fit(tmp_path, clock, [ProgressLines(stream)], max_epochs=1)
    assert stream.getvalue() == "epoch 1/1 | step 4/4 | lr 0.01 | train/seen 1.5 | 4s elapsed | ~0s left\n"


def test_max_steps_without_max_epochs_plans_by_steps(tmp_path, clock):
    stream = io.StringIO()
    _fit(tmp_path, clock, [ProgressLines(stream)], max_epochs=-1, max_steps=10)
    assert stream.getvalue().splitlines() == [
        "epoch 1 | step 4/10 | lr 0.01 | train/seen 1.5 | 4s elapsed | ~6s left",
        "epoch 2 | step 8/10 | lr 0.01 | train/seen 1.5 | 8s elapsed | ~2s left",
        # the fit stops at step 10, half-way through epoch 3 (batches 0 and 1: mean 0.5)
        "epoch 3 | step 10/10 | lr 0.01 | train/seen 0.5 | 10s elapsed | ~0s left",
    ]


def test_data_without_a_length_has_no_plan_and_no_time_left(tmp_path, clock):
    stream = io.StringIO()
    model = _BarModule(clock, n=32, batch_size=8, iterable=True)
    _fit(tmp_path, clock, [ProgressLines(stream)], model=model, max_epochs=1)
    assert stream.getvalue() == "epoch 1/1 | step 4 | lr 0.01 | train/seen 1.5 | 4s elapsed\n"


def test_a_resumed_fit_estimates_time_left_from_its_own_steps(tmp_path, clock):
    stream = io.StringIO()
    ckpt = tmp_path / "one.ckpt"
    trainer = _fit(tmp_path, clock, [], max_epochs=1)
    trainer.save_checkpoint(ckpt)
    clock.advance(1000.0)  # time between the parts is not this part's
    model = _BarModule(clock, n=32, batch_size=8, train_s=2.0)
    trainer = quiet_trainer(
        tmp_path,
        [ProgressLines(stream)],
        limit_val_batches=0,
        max_epochs=3,
    )
    trainer.fit(model, ckpt_path=str(ckpt))
    first = stream.getvalue().splitlines()[0]
    assert first.endswith("| step 8/12 | lr 0.01 | train/seen 1.5 | 8s elapsed | ~8s left"), first


def test_a_failing_line_is_replaced_by_one_saying_why_and_training_goes_on(tmp_path, clock, monkeypatch):
    def broken(trainer):
        raise ValueError("no metrics")

    monkeypatch.setattr(progress, "_bar_metrics", broken)
    stream = io.StringIO()
    _fit(tmp_path, clock, [ProgressLines(stream)])
    assert stream.getvalue().splitlines() == [
        "epoch 1: (no progress line: ValueError: no metrics)",
        "epoch 2: (no progress line: ValueError: no metrics)",
    ]


def test_the_bar_metrics_are_epoch_means_sorted_numbers_only():
    trainer = SimpleNamespace(
        progress_bar_metrics={
            "val/acc": torch.tensor(0.25),
            "train/loss_step": 9.0,
            "train/loss_epoch": torch.tensor(2.0),
            "train/acc_step": 0.5,  # no epoch mean: shown as it is
            "v_num": "abc",
            "bad": torch.ones(2),  # not one number: left out
        }
    )
    assert _bar_metrics(trainer) == {"train/acc_step": 0.5, "train/loss": 2.0, "val/acc": 0.25}


def test_energy_is_always_in_wh():
    assert _energy_text(3600.0) == "1 Wh" and _energy_text(36.0) == "0.01 Wh"
    assert _energy_text(3.6e9) == "1e+06 Wh"
