"""EnergyCarbonCallback in a plain Trainer beside Lightning's own features: ``Tuner.lr_find`` (and
the ``LearningRateFinder`` callback) before the fit, ``EarlyStopping`` ending the fit early.

Exact figures (docs/accounting.md): the scripted meter draws 10 W and the scripted clock moves
1 s per training batch and 0.5 s per validation batch, so a window's energy is 10 J per training
batch and 5 J per validation batch. The tuner's trial batches are a ``tune`` stage of their own:
measured, reported beside the fit and never in the fit's energy or SCI; they run with the
Trainer's callbacks switched off, so the stage states no batches or samples and says why."""

from __future__ import annotations

import json

import pytest
from lightning.pytorch.callbacks import Callback, EarlyStopping, LearningRateFinder
from lightning.pytorch.tuner import Tuner
from scripted import ScriptClock, ScriptedModule, quiet_trainer

from sci_lightning import EnergyCarbonCallback
from sci_lightning.sci.report import SciReport

P_W = 10.0
TRIALS = 5  # lr_find's num_training


class LrModule(ScriptedModule):
    """A scripted module with an ``lr`` for the finder to set; a validation metric that never improves."""

    def __init__(self, clock: ScriptClock, **kw) -> None:
        super().__init__(clock, **kw)
        self.lr = 0.01

    def validation_step(self, batch, batch_idx) -> None:
        super().validation_step(batch, batch_idx)
        self.log("val_flat", 1.0)

    def val_dataloader(self):
        return self._loader()


def _setup(tmp_path, scripted_meter, *callbacks, **trainer_kw):
    clock = ScriptClock()
    cb = EnergyCarbonCallback(
        meters=[scripted_meter(clock, P_W)],
        clock=clock,
        output_dir=str(tmp_path),
        carbon={"provider": "static", "region": "FR", "static_g_per_kwh": 100.0},
    )
    kw = {"max_epochs": 2, "limit_val_batches": 0, "num_sanity_val_steps": 0, **trainer_kw}
    trainer = quiet_trainer(
        tmp_path,
        [cb, *callbacks],
        **kw,
    )
    return clock, cb, trainer


def _no_nulls_in_training(report: dict) -> None:
    training = report["training"]
    for key in ("batches", "optimizer_steps", "samples", "epochs"):
        assert training[key] is not None, (key, training)
    for part in report["parts"]:
        assert None not in (part["energy_j"], part["batches"], part["samples"], part["epochs"]), part


def _tune_stage(report: dict, trials: int) -> dict:
    (tune,) = report["stages"]
    assert (tune["stage"], tune["method"], tune["status"]) == ("tune", "lr_find", "completed")
    assert tune["it_energy_kwh"] * 3.6e6 == pytest.approx(P_W * trials)  # every trial batch, measured
    assert (tune["batches"], tune["samples"]) == (None, None)  # not seen: stated, with the reason
    assert any("not counted" in note for note in tune["notes"])
    return tune


def test_lr_find_before_fit_is_a_tune_stage_and_the_fit_counts_only_its_own_batches(tmp_path, scripted_meter):
    clock, cb, trainer = _setup(tmp_path, scripted_meter)
    model = LrModule(clock, n=64)  # 8 batches of 8 per epoch
    found = Tuner(trainer).lr_find(model, num_training=TRIALS, early_stop_threshold=None)
    assert len(found.results["lr"]) == TRIALS and model.calls["train"] == TRIALS
    trainer.fit(model)

    assert model.calls["train"] == TRIALS + 16
    assert (cb.result.it_energy_j, cb.result.batches, cb.result.samples) == (P_W * 16, 16, 128)
    report = json.loads((tmp_path / "sci_report.json").read_text())
    _no_nulls_in_training(report)
    assert report["training"]["samples"] == 128 and report["training"]["epochs"] == 2.0
    assert report["energy_kwh"]["it_total"] * 3.6e6 == pytest.approx(P_W * 16)  # the trials are not in it
    assert report["sci_inputs"]["E_kwh"] * 3.6e6 == pytest.approx(P_W * 16)
    _tune_stage(report, TRIALS)
    assert [s.stage for s in cb.stages] == ["tune"]
    assert SciReport.read(tmp_path).stages[0].method == "lr_find"


class CallsAtFitStart(Callback):
    """The model's step calls when the fit proper begins (after every tuner's search)."""

    def on_fit_start(self, trainer, pl_module) -> None:
        self.calls = dict(pl_module.calls)


@pytest.mark.parametrize("first", ["energy", "finder"])
def test_the_learning_rate_finder_callback_is_a_tune_stage_whatever_the_callback_order(
    tmp_path, scripted_meter, first
):
    finder = LearningRateFinder(num_training_steps=TRIALS, early_stop_threshold=None)
    at_fit = CallsAtFitStart()
    clock, cb, trainer = _setup(tmp_path, scripted_meter, num_sanity_val_steps=1, limit_val_batches=1)
    # Lightning puts tuners first itself; assigned directly, the order is the user's
    trainer.callbacks = [finder, cb, at_fit] if first == "finder" else [cb, finder, at_fit]
    model = LrModule(clock, n=64)
    trainer.fit(model)

    tune_j = P_W * at_fit.calls["train"] + P_W * 0.5 * at_fit.calls["validate"]
    fit_val = model.calls["validate"] - at_fit.calls["validate"]
    assert at_fit.calls["train"] == TRIALS and model.calls["train"] == TRIALS + 16
    assert fit_val == 3  # the sanity check's batch and one per epoch: the fit's
    assert (cb.result.it_energy_j, cb.result.batches, cb.result.samples) == (
        P_W * 16 + 5.0 * fit_val,
        16,
        128,
    )
    report = json.loads((tmp_path / "sci_report.json").read_text())
    _no_nulls_in_training(report)
    (tune,) = report["stages"]
    assert (tune["method"], tune["batches"], tune["samples"]) == ("lr_find", None, None)
    assert tune["it_energy_kwh"] * 3.6e6 == pytest.approx(tune_j)


def test_early_stopping_ends_the_fit_and_the_report_counts_what_ran(tmp_path, scripted_meter):
    stop = EarlyStopping(monitor="val_flat", patience=1, mode="min")
    clock, cb, trainer = _setup(tmp_path, scripted_meter, stop, max_epochs=10, limit_val_batches=2)
    model = LrModule(clock, n=32)  # 4 training batches per epoch, 2 validation batches
    trainer.fit(model)

    assert trainer.should_stop and stop.stopped_epoch == 1 and trainer.current_epoch == 2
    assert (model.calls["train"], model.calls["validate"]) == (8, 4)
    per_epoch_j = P_W * (4 * 1.0 + 2 * 0.5)
    assert cb.result.it_energy_j == 2 * per_epoch_j
    assert (cb.result.batches, cb.result.samples, cb.result.epochs) == (8, 64, 2.0)
    report = json.loads((tmp_path / "sci_report.json").read_text())
    _no_nulls_in_training(report)
    assert report["status"] == "completed" and [p["status"] for p in report["parts"]] == ["completed"]
    assert report["energy_kwh"]["it_total"] * 3.6e6 == pytest.approx(2 * per_epoch_j)
    assert report["stages"] == []
    on_disk = json.loads((tmp_path / "energy.json").read_text())
    assert (on_disk["batches"], on_disk["epochs"]) == (8, 2.0)
