"""Resuming real CLI runs: a part killed with SIGKILL, a checkpoint of another model, a corrupt file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

# A run small enough to stop and resume in seconds on 2 CPU cores (DenseNet-121 at 32 px,
# 2 images a batch: ~0.3 s a step); last.ckpt after every optimizer step.
FAST = [
    "experiment=quickstart",
    "model=densenet",
    "model.image_size=32",
    "data.batch_size=2",
    "data.num_workers=0",
    "trainer.limit_train_batches=4",
    "trainer.limit_val_batches=1",
    "trainer.num_sanity_val_steps=0",
    "checkpoint.every_n_steps=1",
]


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "sci_lightning", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def cli(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-m", "sci_lightning", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_for(path: Path, proc: subprocess.Popen, timeout_s: float = 600.0) -> None:
    """Until ``path`` exists (the first mid-run checkpoint); fails if the process ends first.

    On a loaded machine the first checkpoint may take minutes; a process still running when the
    wait fails is killed, so that it does not train on beside the next tests.
    """
    deadline = time.monotonic() + timeout_s
    while not path.is_file():
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        if time.monotonic() >= deadline:
            proc.kill()
            proc.communicate(timeout=60)
            pytest.fail(f"no {path} after {timeout_s} s")
        time.sleep(0.05)


def saved_energy_state(ckpt: Path) -> dict[str, Any]:
    """The EnergyCarbonCallback state inside a checkpoint."""
    saved = torch.load(ckpt, map_location="cpu", weights_only=False)
    (state,) = [v for k, v in saved["callbacks"].items() if k.startswith("EnergyCarbonCallback")]
    return state


def read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def assert_total_is_sum(
    total: dict[str, Any], first: dict[str, Any], second: dict[str, Any], rel: float = 1e-3
):
    """Energy, time, images and steps of the job = part 1 + part 2 (within ``rel``)."""
    for key in ("it_energy_j", "duration_s"):
        assert total[key] == pytest.approx(first[key] + second[key], rel=rel), key
    for key in ("images", "steps"):
        assert total[key] == first[key] + second[key], key


@pytest.mark.slow
def test_sigkill_after_a_mid_run_checkpoint_then_resume_with_ckpt_path_last(tmp_path):
    run = tmp_path / "run"
    ckpt = run / "checkpoints" / "last.ckpt"
    proc = start([*FAST, f"output_dir={run}", "trainer.max_epochs=2"], tmp_path)
    wait_for(ckpt, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL and not (run / "energy.json").exists()
    (saved,) = saved_energy_state(ckpt)["parts"]
    assert saved["status"] == "running" and saved["steps"] >= 1

    out = cli([*FAST, f"output_dir={run}", "trainer.max_epochs=2", "ckpt_path=last"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    total = read(run / "energy.json")
    first, second = total["parts"]
    assert first["status"] == "killed" and first["checkpoint"] == str(ckpt)
    assert second["status"] == "completed" and second["resumed_from"] == str(ckpt)
    # the killed part has no report of its own: its figures are those its checkpoint saved
    for key in ("it_energy_j", "duration_s", "images", "steps"):
        assert first[key] == pytest.approx(saved[key]), key
    assert_total_is_sum(total, first, second)
    assert total["steps"] == 8 and total["images"] == 16  # 2 epochs x 4 steps x 2 images, nothing twice
    assert 0 < total["unmeasured_s"] == pytest.approx(first["unmeasured_after_s"], abs=1e-3)
    report = read(run / "sci_report.json")
    # the work (per-PFLOP, per-image units) also covers both parts, as the energy does
    assert report["work"]["train_steps"] == 8 and report["work"]["images_seen"] == 16
    assert any("2 parts" in w for w in report["warnings"])
    assert any(
        "were not measured" in w and f"{first['unmeasured_after_s']:.1f} s" in w for w in report["warnings"]
    )
    summary = read(run / "run_summary.json")
    assert summary["status"] == "completed" and summary["parts"] == 2 and summary["images_seen"] == 16
    print(
        f"\nSIGKILL: unmeasured {total['unmeasured_s']:.2f} s; parts J {first['it_energy_j']:.1f} + "
        f"{second['it_energy_j']:.1f} = total {total['it_energy_j']:.1f}"
    )


def _fake_checkpoint(path: Path, model_name: str) -> Path:
    torch.save({"state_dict": {}, "hyper_parameters": {"model_name": model_name, "num_classes": 10}}, path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["other_model", "corrupt"])
def test_a_checkpoint_of_another_model_or_a_corrupt_file_is_refused_before_training(tmp_path, kind):
    if kind == "other_model":
        ckpt = _fake_checkpoint(tmp_path / "densenet.ckpt", "densenet121")
    else:
        ckpt = tmp_path / "broken.ckpt"
        ckpt.write_bytes(b"PK\x03\x04 not really a checkpoint" * 10)
    run = tmp_path / "run"
    out = cli(
        [*FAST, "model=inception", "model.image_size=75", f"output_dir={run}", f"ckpt_path={ckpt}"], tmp_path
    )
    assert out.returncode == 2, out.stderr[-3000:]
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"ckpt_path={str(ckpt)!r}" in errors[0], out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    assert (
        ("densenet121" in errors[0] and "inception_v3" in errors[0])
        if kind == "other_model"
        else ("not a readable checkpoint" in errors[0])
    )
    assert not (run / "energy.json").exists() and not (run / "checkpoints").exists()
