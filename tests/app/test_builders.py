"""The builders of a CLI run (sci_lightning.app.builders): the checkpoint to
resume and the checks on it (one-line errors before training), the settings a resume may change, the
settings that make runs comparable, the precision. The Trainer they build is used in tests/app/test_train.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from lock_holder import lock_held_elsewhere

from sci_lightning.app import builders as B
from sci_lightning.app.builders import _requeued_checkpoint
from sci_lightning.errors import ConfigError
from sci_lightning.settings import Config, coerce


def _settings(**sections) -> Config:
    return coerce(Config, sections)


def _checkpoint(path: Path, *, model_name="inception_v3", num_classes=200, settings=None, state=True) -> str:
    saved: dict = {"hyper_parameters": {"model_name": model_name, "num_classes": num_classes}}
    if state:
        saved["state_dict"] = {}
    if settings is not None:
        saved["callbacks"] = {"SettingsRecord{'k': 1}": {"settings": settings}}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(saved, path)
    return str(path)


def test_labels_and_precision_on_this_machine():
    assert B.model_label(_settings()) == "inception_v3"
    assert B.model_label(_settings(model={"display_name": "Inception"})) == "Inception"
    assert B.resolve_precision("bf16-mixed", "cpu") == "bf16-mixed"  # anything but auto-mixed is kept
    assert B.resolve_precision("auto-mixed", "cpu") == "32-true"
    if not torch.cuda.is_available():
        assert B.resolve_precision("auto-mixed", "gpu") == "32-true"


def test_ckpt_path_errors_before_training(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # outputs/ of this test only
    with pytest.raises(ConfigError) as err:
        B.resolve_checkpoint(_settings(ckpt_path="nope.ckpt"), tmp_path)
    assert str(err.value) == (
        "Invalid setting ckpt_path='nope.ckpt': no such checkpoint file. Give the path of a .ckpt file "
        "(a run folder's checkpoints/last.ckpt), or ckpt_path=last for the newest one of this model."
    )
    with pytest.raises(ConfigError, match="Invalid setting ckpt_path=last: no last.ckpt of inception_v3 in "):
        B.resolve_checkpoint(_settings(ckpt_path="last"), tmp_path / "run")
    assert B.resolve_checkpoint_info(_settings(), tmp_path) == (None, {})


def test_ckpt_path_last_finds_this_folders_then_the_newest_of_the_model(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    older, newer, other = (tmp_path / "outputs" / "runs" / n for n in ("1", "2", "3"))
    for run, model in ((older, "inception_v3"), (newer, "inception_v3"), (other, "densenet121")):
        _checkpoint(run / "checkpoints" / "last.ckpt", model_name=model)
        (run / ".hydra").mkdir()
        (run / ".hydra" / "config.yaml").write_text(f"model:\n  name: {model}\n")
    os.utime(older / "checkpoints" / "last.ckpt", (1, 1))
    os.utime(other / "checkpoints" / "last.ckpt", None)  # the newest, but another model's
    found = B.resolve_checkpoint(_settings(ckpt_path="last"), tmp_path / "fresh")
    assert Path(found).resolve() == (newer / "checkpoints" / "last.ckpt").resolve()
    own = _checkpoint(tmp_path / "mine" / "checkpoints" / "last.ckpt")
    assert B.resolve_checkpoint(_settings(ckpt_path="last"), tmp_path / "mine") == own


def test_check_checkpoint_refuses_what_cannot_be_resumed(tmp_path: Path):
    settings = _settings()
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match=r"not a readable checkpoint \(UnpicklingError: ") as err:
        B.check_checkpoint(str(garbage), settings)
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match=r"not a Lightning checkpoint \(no state_dict\)"):
        B.check_checkpoint(_checkpoint(tmp_path / "bare.ckpt", state=False), settings)
    with pytest.raises(ConfigError) as err:
        B.check_checkpoint(_checkpoint(tmp_path / "d.ckpt", model_name="densenet121"), settings)
    assert str(err.value).endswith(
        "it is a checkpoint of densenet121, this run trains inception_v3. Give a checkpoint of inception_v3, "
        "or model.name=densenet121."
    )
    info = B.check_checkpoint(_checkpoint(tmp_path / "ok.ckpt", settings={"data.batch_size": 32}), settings)
    assert info == {
        "hyper_parameters": {"model_name": "inception_v3", "num_classes": 200},
        "settings": {"data.batch_size": 32},
    }


def test_a_checkpoint_being_resumed_elsewhere_is_refused(tmp_path: Path):
    ckpt = _checkpoint(tmp_path / "last.ckpt")
    with (
        lock_held_elsewhere(ckpt + ".resume") as pid,
        pytest.raises(ConfigError, match=f"process {pid} is resuming this checkpoint now"),
    ):
        B.resolve_checkpoint_info(_settings(ckpt_path=ckpt), tmp_path)
    found, info = B.resolve_checkpoint_info(_settings(ckpt_path=ckpt), tmp_path)  # free again: held by us
    assert found == ckpt and info["hyper_parameters"]["num_classes"] == 200


def test_resume_settings_and_what_a_resume_changes():
    settings = _settings(data={"batch_size": 32}, sci={"functional_unit": "epoch"})
    recorded = B.resume_settings(settings)
    assert list(recorded) == list(B.RESUME_SETTINGS)
    assert recorded["data.batch_size"] == 32 and recorded["sci.functional_unit"] == "epoch"
    before = {**recorded, "data.batch_size": 64, "model.lr": 0.01, "unknown.key": 1}
    info = {"hyper_parameters": {"num_classes": 200}, "settings": before}
    assert B.check_resume(info, "x.ckpt", settings, 200) == [
        "data.batch_size: 64 -> 32",
        "model.lr: 0.01 -> 0.001",
    ]
    assert B.check_resume(info, None, settings, 10) == []  # no checkpoint: nothing to check
    assert B.check_resume({}, "x.ckpt", settings, 10) == []  # an old checkpoint that recorded nothing


def test_a_resume_with_another_number_of_classes_is_refused():
    info = {"hyper_parameters": {"num_classes": 10}}
    with pytest.raises(ConfigError) as err:
        B.check_resume(info, "x.ckpt", _settings(data={"name": "synthetic"}), 4)
    assert str(err.value).startswith(
        "Invalid setting data.synthetic_classes: the checkpoint 'x.ckpt' classifies 10 classes and this run's "
        "data has 4, so its weights cannot be loaded."
    )
    with pytest.raises(ConfigError, match="^Invalid setting data.max_classes: "):
        B.check_resume(info, "x.ckpt", _settings(), 200)


def test_comparable_settings():
    settings = _settings(model={"name": "densenet121"}, data={"name": "synthetic", "batch_size": 8})
    assert B.comparable_settings(settings, "16-mixed") == {
        "model": "densenet121",
        "image_size": 299,
        "freeze_backbone": False,
        "cache_features": False,
        "dataset": "synthetic",
        "batch_size": 8,
        "max_epochs": 10,
        "limit_train_batches": None,
        "precision": "16-mixed",
        "accelerator": "auto",
    }


def test_a_requeued_run_resumes_from_the_newest_checkpoint_of_its_folder(tmp_path, monkeypatch):
    (tmp_path / "checkpoints").mkdir()
    last, hpc = tmp_path / "checkpoints" / "last.ckpt", tmp_path / "hpc_ckpt_1.ckpt"
    for path, age_s in ((hpc, 60), (last, 10)):
        path.write_bytes(b"x")
        os.utime(path, (path.stat().st_mtime - age_s,) * 2)
    monkeypatch.setenv("SLURM_JOB_ID", "9")
    monkeypatch.delenv("SLURM_ARRAY_JOB_ID", raising=False)
    monkeypatch.setenv("SLURM_RESTART_COUNT", "0")
    assert _requeued_checkpoint(tmp_path) is None  # the first run starts fresh
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    assert _requeued_checkpoint(tmp_path) == str(last)
    os.utime(hpc, None)  # Lightning's SIGUSR1 checkpoint is newer: the part died before last.ckpt
    assert _requeued_checkpoint(tmp_path) == str(hpc)
    monkeypatch.delenv("SLURM_JOB_ID")
    assert _requeued_checkpoint(tmp_path) is None  # not under SLURM
