"""The accounting model in real Trainers: exact energy, batches, optimizer steps, fractional epochs,
samples and part statuses for every case of issue 20 (docs/accounting.md).

Every case runs a real ``fit`` on CPU with a :class:`~scripted.ConstantPowerMeter` of 10 W on a
scripted clock that advances 1 s per training step and 0.5 s per evaluation step, so a
fit of ``b`` training batches and ``v`` validation batches drew exactly ``10 x (b + 0.5 v)`` J.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from scripted import ConstantPowerMeter, ScriptClock, ScriptedModule

from sci_lightning.errors import ConfigError
from sci_lightning.lightning.callback import EnergyCarbonCallback

P_W = 10.0


def _cb(clock: ScriptClock, out: Path, **kw) -> EnergyCarbonCallback:
    kw.setdefault("carbon", {"provider": "static", "region": "FR"})
    return EnergyCarbonCallback(
        meters=[ConstantPowerMeter(clock, P_W)], output_dir=str(out), clock=clock, **kw
    )


def _trainer(tmp_path: Path, callbacks: list, **kw) -> Trainer:
    kw.setdefault("max_epochs", 1)
    kw.setdefault("num_sanity_val_steps", 0)
    kw.setdefault("limit_val_batches", 0)
    return Trainer(
        accelerator="cpu",
        devices=1,
        default_root_dir=str(tmp_path),
        callbacks=callbacks,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=kw.pop("enable_checkpointing", False),
        logger=kw.pop("logger", False),
        **kw,
    )


def _counts(cb: EnergyCarbonCallback) -> tuple:
    r = cb.result
    return r.it_energy_j, r.batches, r.optimizer_steps, r.epochs, r.samples


def _statuses(cb: EnergyCarbonCallback) -> list[str]:
    return [p["status"] for p in cb.parts]


def test_reuse_across_two_trainers_starts_clean(tmp_path):
    clock = ScriptClock()
    cb = _cb(clock, tmp_path)
    _trainer(tmp_path, [cb], max_steps=6).fit(ScriptedModule(clock))
    assert _counts(cb) == (60.0, 6, 6, 0.75, 48)
    _trainer(tmp_path, [cb], max_steps=4).fit(ScriptedModule(clock))
    assert _counts(cb) == (40.0, 4, 4, 0.5, 32)  # not 100 J: trainer 1 is not a previous part
    assert _statuses(cb) == ["completed"] and cb.unmeasured_s == 0
    assert json.loads((tmp_path / "energy.json").read_text())["batches"] == 4


def test_a_clean_fit_after_a_failed_one_starts_clean(tmp_path):
    clock = ScriptClock()
    cb = _cb(clock, tmp_path)
    with pytest.raises(RuntimeError, match="scripted failure"):
        _trainer(tmp_path, [cb], max_steps=8).fit(ScriptedModule(clock, fail_at_batch=3))
    assert _counts(cb) == (30.0, 3, 3, 0.375, 24) and _statuses(cb) == ["failed"]
    _trainer(tmp_path, [cb], max_steps=8).fit(ScriptedModule(clock))
    assert _counts(cb) == (80.0, 8, 8, 1.0, 64) and _statuses(cb) == ["completed"]


@pytest.mark.parametrize("kw", [{"barebones": True}, {"log_every_n_steps": 0}])
def test_barebones_and_no_step_logging_do_not_divide_by_zero(tmp_path, kw):
    clock = ScriptClock()
    cb = _cb(clock, tmp_path)
    _trainer(tmp_path, [cb], max_epochs=2, **kw).fit(ScriptedModule(clock))
    assert _counts(cb) == (160.0, 16, 16, 2.0, 128) and _statuses(cb) == ["completed"]


def test_gradient_accumulation_counts_batches_and_optimizer_steps_apart(tmp_path):
    clock = ScriptClock()
    cb = _cb(clock, tmp_path)
    _trainer(tmp_path, [cb], max_epochs=2, accumulate_grad_batches=4).fit(ScriptedModule(clock, batch_size=2))
    assert _counts(cb) == (640.0, 64, 16, 2.0, 128)
    report = json.loads((tmp_path / "sci_report.json").read_text())
    assert report["training"] == {
        "epochs": 2.0,
        "steps": 16,
        "images": 128,
        "world_size": 1,
        "batches": 64,
        "optimizer_steps": 16,
        "samples": 128,
        "hosts": [socket.gethostname()],
    }
    assert cb.parts[0]["batches"] == 64 and cb.parts[0]["optimizer_steps"] == 16


@pytest.mark.slow
def test_manual_optimization_with_two_optimizers_counts_each_optimizer_step(tmp_path):
    clock = ScriptClock()
    cb = _cb(clock, tmp_path)
    _trainer(tmp_path, [cb], max_epochs=2).fit(ScriptedModule(clock, batch_size=2, manual=True))
    assert _counts(cb) == (640.0, 64, 128, 2.0, 128)


def test_max_steps_gives_a_fractional_epoch(tmp_path):
    clock = ScriptClock()
    cb = _cb(clock, tmp_path)
    _trainer(tmp_path, [cb], max_epochs=5, max_steps=7).fit(ScriptedModule(clock, batch_size=2))
    assert _counts(cb) == (70.0, 7, 7, 0.21875, 14)
    report = json.loads((tmp_path / "sci_report.json").read_text())
    assert report["sci_per"]["epoch"] == pytest.approx(report["sci_per"]["job"] / 0.21875)


def test_max_time_gives_a_fractional_epoch(tmp_path, monkeypatch):
    import lightning.pytorch.callbacks.timer as timer_module

    clock = ScriptClock()
    monkeypatch.setattr(timer_module.time, "monotonic", clock)  # Lightning's Timer reads the scripted clock
    cb = _cb(clock, tmp_path)
    _trainer(tmp_path, [cb], max_time={"seconds": 10}).fit(ScriptedModule(clock, batch_size=2))
    assert _counts(cb) == (100.0, 10, 10, 0.3125, 20)


@pytest.mark.parametrize(
    "kind, fn, samples",
    [
        ("dict", None, 64),
        ("dataclass", None, 64),
        ("custom", len, 64),
        ("custom", None, 0),
    ],
)
def test_samples_are_counted_as_lightning_sizes_batches(tmp_path, kind, fn, samples):
    clock = ScriptClock()
    cb = _cb(clock, tmp_path, batch_size_fn=fn)
    _trainer(tmp_path, [cb]).fit(ScriptedModule(clock, batch_kind=kind))
    assert _counts(cb) == (80.0, 8, 8, 1.0, samples)
    unsized = [w for w in cb.result.warnings if "no batch size" in w]
    assert bool(unsized) == (samples == 0)


def test_iterable_data_has_unknown_epochs(tmp_path):
    clock = ScriptClock()
    cb = _cb(clock, tmp_path)
    _trainer(tmp_path, [cb], max_epochs=2).fit(ScriptedModule(clock, n=40, iterable=True))
    assert _counts(cb) == (100.0, 10, 10, None, 80)
    report = json.loads((tmp_path / "sci_report.json").read_text())
    assert report["training"]["epochs"] is None and report["sci_per"]["epoch"] is None
    assert any("iterable" in w for w in report["warnings"])


def test_epoch_energy_monitor_refused_with_mid_epoch_validation(tmp_path):
    clock = ScriptClock()
    cb = _cb(clock, tmp_path)
    mc = ModelCheckpoint(dirpath=str(tmp_path / "ck"), monitor="energy/epoch_j")
    trainer = _trainer(
        tmp_path, [cb, mc], enable_checkpointing=True, limit_val_batches=2, val_check_interval=0.5
    )
    with pytest.raises(ConfigError, match="save_on_train_epoch_end=True"):
        trainer.fit(ScriptedModule(clock))
    # with the fix the same schedule runs, and the checkpoint scores each epoch's own energy
    mc = ModelCheckpoint(
        dirpath=str(tmp_path / "ck2"),
        monitor="energy/epoch_j",
        mode="max",
        save_top_k=1,
        save_on_train_epoch_end=True,
    )
    cb = _cb(clock, tmp_path)
    _trainer(
        tmp_path,
        [cb, mc],
        enable_checkpointing=True,
        limit_val_batches=2,
        val_check_interval=0.5,
        max_epochs=2,
    ).fit(ScriptedModule(clock, train_s_by_epoch=[1.0, 2.0]))
    # epoch 2: 8 batches x 2 s x 10 W, and its mid-epoch validation (2 batches x 0.5 s); the one after
    # its last batch belongs to no epoch's training
    assert float(mc.best_model_score) == 8 * 2.0 * P_W + 2 * 0.5 * P_W


@pytest.mark.slow
def test_epoch_energy_monitor_scores_the_current_epoch_every_second_epoch(tmp_path):
    clock = ScriptClock()
    cb = _cb(clock, tmp_path)
    mc = ModelCheckpoint(
        dirpath=str(tmp_path / "ck"), monitor="energy/epoch_j", mode="max", save_top_k=-1, filename="{epoch}"
    )
    _trainer(
        tmp_path,
        [cb, mc],
        enable_checkpointing=True,
        limit_val_batches=2,
        check_val_every_n_epoch=2,
        max_epochs=4,
    ).fit(ScriptedModule(clock, train_s_by_epoch=[1.0, 2.0, 3.0, 4.0]))
    scores = {Path(p).name: float(s) for p, s in mc.best_k_models.items()}
    assert scores == {"epoch=1.ckpt": 160.0, "epoch=3.ckpt": 320.0}  # the epoch validated, not the one before


@pytest.mark.slow
def test_resume_from_lightnings_last_ckpt_keeps_the_completed_part_completed(tmp_path):
    clock = ScriptClock()
    ck = tmp_path / "ck"
    cb1 = _cb(clock, tmp_path / "p1")
    mc = ModelCheckpoint(dirpath=str(ck), save_last=True, save_top_k=0)
    _trainer(tmp_path, [cb1, mc], enable_checkpointing=True, max_epochs=2).fit(ScriptedModule(clock))
    clock.advance(3600.0)  # an idle hour between the runs: not training, not unmeasured
    cb2 = _cb(clock, tmp_path / "p2")
    mc2 = ModelCheckpoint(dirpath=str(ck), save_last=True, save_top_k=0)
    _trainer(tmp_path, [cb2, mc2], enable_checkpointing=True, max_epochs=4).fit(
        ScriptedModule(clock), ckpt_path=str(ck / "last.ckpt")
    )
    assert _statuses(cb2) == ["completed", "completed"] and cb2.unmeasured_s == 0
    assert _counts(cb2) == (320.0, 32, 32, 4.0, 256)
    assert [(p["it_energy_j"], p["batches"], p["epochs"]) for p in cb2.parts] == [
        (160.0, 16, 2.0),
        (160.0, 16, 2.0),
    ]


@pytest.mark.slow
def test_resume_from_a_checkpoint_without_energy_state_says_what_is_unknown(tmp_path):
    clock = ScriptClock()
    ck = tmp_path / "ck"
    mc = ModelCheckpoint(dirpath=str(ck), save_last=True, save_top_k=0)
    _trainer(tmp_path, [mc], enable_checkpointing=True, max_epochs=2).fit(ScriptedModule(clock))
    cb = _cb(clock, tmp_path / "p2")
    _trainer(tmp_path, [cb], max_epochs=4).fit(ScriptedModule(clock), ckpt_path=str(ck / "last.ckpt"))
    first, second = cb.parts
    assert first["status"] == "unknown" and first["it_energy_j"] is None
    assert (first["optimizer_steps"], first["epochs"]) == (16, 2.0)
    assert second["status"] == "completed"
    assert _counts(cb) == (160.0, 16, 16, 2.0, 128)  # the measured part only, counts and energy alike
    assert any(
        "energy of the training before it (16 optimizer steps, 2 epochs) is unknown" in w
        for w in cb.result.warnings
    )


def test_state_round_trip_keeps_parts(tmp_path):
    clock = ScriptClock()
    cb = _cb(clock, tmp_path)
    _trainer(tmp_path, [cb], max_steps=3).fit(ScriptedModule(clock))
    state = cb.state_dict()
    other = EnergyCarbonCallback()
    other.load_state_dict(state)
    assert other.state_dict() == state and state["parts"][0]["batches"] == 3


def test_energy_metrics_are_logged_at_lightnings_own_steps(tmp_path):
    clock = ScriptClock()
    cb = _cb(clock, tmp_path, log_every_n_steps=2)
    logger = CSVLogger(str(tmp_path), name="run")
    _trainer(tmp_path, [cb], logger=logger, log_every_n_steps=2, max_steps=6).fit(ScriptedModule(clock))
    import csv

    with open(Path(logger.log_dir) / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    loss_steps = {int(r["step"]) for r in rows if r.get("train_loss")}
    energy_steps = {int(r["step"]) for r in rows if r.get("energy/batch_j")}
    assert loss_steps == {1, 3, 5} and energy_steps == {0, 1, 3, 5}  # the first batch, then Lightning's steps
    assert {float(r["energy/batch_j"]) for r in rows if r.get("energy/batch_j")} == {10.0}
