"""lightning/checkpointing.py: atomic checkpoint writes (a failed write keeps the previous file, in one
line naming it), and ``last.ckpt`` in real (tiny, CPU) fits with a scripted 10 W meter: written after
the energy window closed (the part's exact final figures), on an interruption, never after a failure."""

from __future__ import annotations

import errno
import os
from datetime import timedelta
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException
from scripted import ConstantPowerMeter, ScriptClock, ScriptedModule, quiet_trainer

from sci_lightning.fileio import StorageError
from sci_lightning.lightning import checkpointing
from sci_lightning.lightning.callback import EnergyCarbonCallback
from sci_lightning.lightning.checkpointing import (
    LAST_NAME,
    AtomicCheckpointIO,
    LastCheckpoint,
    SettingsRecord,
    checkpoint_callbacks,
)
from sci_lightning.settings import CheckpointConfig

P_W = 10.0


# ------------------------------------------------------------------ AtomicCheckpointIO
def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_an_atomic_write_round_trips_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "new" / "folder" / LAST_NAME  # missing folders are made
    AtomicCheckpointIO().save_checkpoint({"global_step": 3, "w": torch.ones(2)}, target)
    loaded = torch.load(target, weights_only=False)
    assert loaded["global_step"] == 3 and torch.equal(loaded["w"], torch.ones(2))
    assert _leftovers(target.parent) == []


def _failing_save(exc: BaseException):
    def save(obj, f) -> None:
        f.write(b"half a checkpoint")
        raise exc

    return save


def test_a_full_disk_keeps_the_previous_checkpoint_and_says_so_in_one_line(tmp_path, monkeypatch):
    target = tmp_path / LAST_NAME
    AtomicCheckpointIO().save_checkpoint({"global_step": 1}, target)
    monkeypatch.setattr(checkpointing.torch, "save", _failing_save(OSError(errno.ENOSPC, "No space left")))
    with pytest.raises(StorageError) as refused:
        AtomicCheckpointIO().save_checkpoint({"global_step": 2}, target)
    assert str(refused.value) == (
        f"Cannot write {target}: no space is left on the device. The previous checkpoint {target} is kept"
        f" unchanged (resume with ckpt_path={target}). Free space on that disk, or write to a disk with room"
        " (set output_dir to another folder)."
    )
    assert refused.value.errno == errno.ENOSPC and isinstance(refused.value, OSError)
    assert torch.load(target, weights_only=False)["global_step"] == 1 and _leftovers(tmp_path) == []


def test_torchs_zip_writer_error_on_a_full_disk_is_the_same_one_line(tmp_path, monkeypatch):
    """torch reports ENOSPC as a RuntimeError ("unexpected pos"): taken as a full disk when it is."""
    target = tmp_path / LAST_NAME
    monkeypatch.setattr(checkpointing.torch, "save", _failing_save(RuntimeError("unexpected pos 64")))
    monkeypatch.setattr(checkpointing, "_disk_full", lambda folder: True)
    with pytest.raises(
        StorageError, match=r"no space is left on the device\. No earlier checkpoint of this run"
    ):
        AtomicCheckpointIO().save_checkpoint({}, target)
    assert not target.exists() and _leftovers(tmp_path) == []


def test_other_errors_pass_through_unchanged_and_leave_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / LAST_NAME
    monkeypatch.setattr(checkpointing, "_disk_full", lambda folder: False)
    monkeypatch.setattr(checkpointing.torch, "save", _failing_save(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="^a bug$"):
        AtomicCheckpointIO().save_checkpoint({}, target)
    monkeypatch.setattr(checkpointing.torch, "save", _failing_save(OSError(errno.EIO, "I/O error")))
    with pytest.raises(OSError) as raised:
        AtomicCheckpointIO().save_checkpoint({}, target)
    assert type(raised.value) is OSError and raised.value.errno == errno.EIO  # not a storage refusal
    monkeypatch.setattr(checkpointing.torch, "save", _failing_save(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        AtomicCheckpointIO().save_checkpoint({}, target)
    assert _leftovers(tmp_path) == [] and not target.exists()


def test_a_name_too_long_for_the_file_system_is_refused_in_one_line(tmp_path):
    target = tmp_path / ("x" * 300 + ".ckpt")
    with pytest.raises(StorageError, match=r"the path is too long for the file system \(\d+ characters\)"):
        AtomicCheckpointIO().save_checkpoint({}, target)


# ------------------------------------------------------------------ LastCheckpoint
def test_the_save_triggers_from_the_settings(tmp_path):
    every_5 = LastCheckpoint(tmp_path)
    assert every_5._train_time_interval == timedelta(minutes=5) and every_5._every_n_train_steps == 0
    by_steps = LastCheckpoint(tmp_path, every_min=5.0, every_n_steps=3)  # steps replace minutes
    assert by_steps._train_time_interval is None and by_steps._every_n_train_steps == 3
    epochs_only = LastCheckpoint(tmp_path, every_min=None)
    assert epochs_only._train_time_interval is None and epochs_only._every_n_train_steps == 0
    assert epochs_only.last_path == os.path.join(str(tmp_path), "last.ckpt") and epochs_only.save_top_k == 0


class _RecordingIO(AtomicCheckpointIO):
    """Records the global step of every checkpoint written."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[int] = []

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        self.steps.append(checkpoint["global_step"])
        super().save_checkpoint(checkpoint, path, storage_options)


class _StopAt(Callback):
    """Sets Lightning's SIGTERM flag after training batch ``n`` (what SIGTERM does)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.n:
            trainer._signal_connector.received_sigterm = True


def _fit(tmp_path: Path, last: LastCheckpoint, *extra: Callback, fail_at: int | None = None, **kw):
    clock = ScriptClock()
    energy = EnergyCarbonCallback(
        meters=[ConstantPowerMeter(clock, P_W)],
        output_dir=str(tmp_path / "out"),
        clock=clock,
        compute_sci=False,
    )
    io = _RecordingIO()
    kw.setdefault("max_epochs", 2)
    trainer = quiet_trainer(
        tmp_path,
        [energy, *extra, last],
        plugins=[io],
        num_sanity_val_steps=0,
        limit_val_batches=0,
        **kw,
        enable_checkpointing=True,
    )
    trainer.fit(ScriptedModule(clock, n=32, batch_size=8, fail_at_batch=fail_at))  # 4 batches an epoch
    return io, energy


def _part(ckpt: Path) -> dict:
    state = torch.load(ckpt, weights_only=False)
    (energy,) = [v for k, v in state["callbacks"].items() if k.startswith("EnergyCarbonCallback")]
    return {**energy["parts"][-1], "global_step": state["global_step"]}


def test_last_ckpt_at_every_epoch_end_and_once_more_with_the_parts_final_figures(tmp_path):
    last = LastCheckpoint(tmp_path / "checkpoints", every_min=None)
    io, energy = _fit(tmp_path, last)
    assert io.steps == [4, 8, 8]  # epoch 1, epoch 2, fit end (after the energy window closed)
    part = _part(tmp_path / "checkpoints" / LAST_NAME)
    assert (part["status"], part["global_step"], part["batches"]) == ("completed", 8, 8)
    assert part["it_energy_j"] == P_W * 8 == energy.result.it_energy_j  # 8 scripted 1 s steps at 10 W
    assert _leftovers(tmp_path / "checkpoints") == []


def test_every_n_steps_saves_between_epoch_ends(tmp_path):
    last = LastCheckpoint(tmp_path / "checkpoints", every_min=None, every_n_steps=3)
    io, _ = _fit(tmp_path, last)
    assert io.steps == [3, 4, 6, 8, 8]


def test_an_interrupted_part_is_saved_with_its_end(tmp_path):
    last = LastCheckpoint(tmp_path / "checkpoints", every_min=None)
    with pytest.raises(SIGTERMException):
        _fit(tmp_path, last, _StopAt(6))
    part = _part(tmp_path / "checkpoints" / LAST_NAME)
    assert (part["status"], part["signal"], part["global_step"]) == ("interrupted", "SIGTERM", 6)
    assert part["it_energy_j"] == P_W * 6


def test_a_failure_in_training_keeps_the_previous_last_ckpt(tmp_path):
    last = LastCheckpoint(tmp_path / "checkpoints", every_min=None)
    with pytest.raises(RuntimeError, match="scripted failure"):
        _fit(tmp_path, last, fail_at=6)
    part = _part(tmp_path / "checkpoints" / LAST_NAME)
    assert (part["global_step"], part["status"]) == (4, "running")  # the epoch-1 save, untouched


def test_fast_dev_run_writes_no_checkpoint(tmp_path):
    io, _ = _fit(tmp_path, LastCheckpoint(tmp_path / "checkpoints", every_min=None), fast_dev_run=2)
    assert io.steps == [] and not (tmp_path / "checkpoints").exists()


# ------------------------------------------------------------------ SettingsRecord, checkpoint_callbacks
def test_the_runs_settings_travel_in_the_checkpoint_and_a_resume_keeps_its_own(tmp_path):
    record = SettingsRecord({"model": "inception", "lr": 0.1})
    assert record.state_dict() == {"settings": {"model": "inception", "lr": 0.1}}
    record.load_state_dict({"settings": {"model": "densenet"}})
    assert record.settings == {"model": "inception", "lr": 0.1}
    _fit(tmp_path, LastCheckpoint(tmp_path / "checkpoints", every_min=None), record, max_epochs=1)
    state = torch.load(tmp_path / "checkpoints" / LAST_NAME, weights_only=False)
    assert state["callbacks"]["SettingsRecord"] == {"settings": {"model": "inception", "lr": 0.1}}


def test_checkpoint_callbacks_add_best_k_only_when_asked(tmp_path):
    (last,) = checkpoint_callbacks(CheckpointConfig(every_min=2.0), tmp_path)
    assert isinstance(last, LastCheckpoint) and last._train_time_interval == timedelta(minutes=2)
    last, best = checkpoint_callbacks(
        CheckpointConfig(every_n_steps=5, save_top_k=2, monitor="val/acc", mode="max"), tmp_path
    )
    assert isinstance(last, LastCheckpoint) and last._every_n_train_steps == 5
    assert type(best) is ModelCheckpoint
    assert (best.monitor, best.mode, best.save_top_k, best.filename, best.save_last) == (
        "val/acc",
        "max",
        2,
        "best-{epoch}-{step}",
        False,
    )
    assert best.dirpath == str(tmp_path)
