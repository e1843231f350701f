"""Real fits on CPU through ``train.run`` and through the CLI (subprocess), small but complete."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_run import SMALL_NET, TINY_FIT

from sci_lightning.app.train import resolve_precision, run

TINY = ["experiment=quickstart", *TINY_FIT]


def test_auto_precision_on_cpu():
    assert resolve_precision("auto-mixed", "cpu") == "32-true"
    assert resolve_precision("16-mixed", "gpu") == "16-mixed"


@pytest.mark.slow
@pytest.mark.parametrize("model", ["inception", "densenet"])
def test_two_step_fit_leaves_the_run_files(compose, tmp_path, model):
    stage = {"inception": "predict", "densenet": "test"}[model]
    cfg = compose([f"model={model}", f"output_dir={tmp_path}", *TINY, f"inference.stage={stage}"])
    best = run(cfg)
    summary = json.loads((tmp_path / "run_summary.json").read_text())
    assert summary["model"] == {"inception": "inception_v3", "densenet": "densenet121"}[model]
    assert summary["steps"] == 2
    assert summary["images_seen"] == 8
    assert summary["image_size"] == 75
    assert summary["parameters"] > 1_000_000
    assert summary["precision"] == "32-true"
    assert summary["hardware"]["device"] == "cpu"
    assert 0.0 <= summary["best_val_acc"] <= 1.0 and best == summary["best_val_acc"]
    assert summary["fit_wall_s"] > 0
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    energy = json.loads((tmp_path / "energy.json").read_text())
    assert energy["components"] and all(c["method"] for c in energy["components"])
    report = json.loads((tmp_path / "sci_report.json").read_text())
    assert report["model"] == summary["model"]
    assert report["sci"]["value"] > 0 and report["val_acc"] == pytest.approx(summary["final_val_acc"])
    assert summary["sci"] == report["sci"]
    # the final model classified one batch of validation images in its own measured window (Consumer SCI)
    (inference,) = report["inference"]
    (window,) = [s for s in report["stages"] if s["stage"] == stage]
    assert inference["stage"] == stage and inference["samples"] == window["samples"] == 4
    assert inference["energy_per_sample_kwh"] == window["energy_kwh"] / 4
    assert inference["sci_per_1000_g"] > 0 and "stage's window" in inference["intensity_source"]


def _cli(args: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-m", "sci_lightning", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_cli_help_lists_the_config_groups(tmp_path):
    out = _cli(["--help"], tmp_path)
    assert out.returncode == 0, out.stderr
    for group in ("model", "data", "trainer", "experiment", "energy", "carbon", "sci", "schedule"):
        assert f"{group}:" in out.stdout
    assert "inception" in out.stdout and "densenet" in out.stdout


def test_cli_refuses_a_misspelt_setting_before_training(tmp_path):
    out = _cli(["experiment=quickstart", "model.imagesize=80"], tmp_path)
    assert out.returncode != 0
    assert "imagesize" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "outputs").exists() or not list((tmp_path / "outputs").rglob("run_summary.json"))


@pytest.mark.slow
def test_cli_refuses_a_too_small_image_with_the_setting_named(tmp_path):
    out = _cli(["experiment=quickstart", "model=inception", "model.image_size=64"], tmp_path)
    assert out.returncode == 2
    assert "model.image_size=64" in out.stderr and "75" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "outputs").exists()  # a refused run leaves no folder (not even .hydra/)


@pytest.mark.slow
def test_cli_missing_dataset_says_how_to_get_it(tmp_path):
    out = _cli(["data=tiny_imagenet", f"data.root={tmp_path / 'nowhere'}", "trainer=cpu"], tmp_path)
    assert out.returncode == 2
    assert "data=synthetic" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_resume_with_ckpt_path_last_finds_the_previous_run_and_sums_energy(tmp_path):
    first, second = tmp_path / "outputs" / "runs" / "a", tmp_path / "outputs" / "runs" / "b"
    args = [*TINY, *SMALL_NET]  # finding the previous run and summing its energy do not depend on the network
    out = _cli([*args, f"hydra.run.dir={first}"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    out = _cli([*args, "trainer.max_epochs=2", "ckpt_path=last", f"hydra.run.dir={second}"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    part1 = json.loads((first / "energy.json").read_text())
    total = json.loads((second / "energy.json").read_text())
    assert json.loads((second / "run_summary.json").read_text())["steps"] == 4
    assert total["images"] == 2 * part1["images"]
    assert total["duration_s"] > part1["duration_s"]
    assert total["it_energy_j"] > part1["it_energy_j"]
    # the checkpoint holds part 1's state at its end: total = part 1's own energy.json + part 2
    own1, own2 = total["parts"]
    assert own1["status"] == own2["status"] == "completed" and total["unmeasured_s"] == 0
    for key in ("it_energy_j", "duration_s", "images", "steps"):
        assert total[key] == pytest.approx(part1[key] + own2[key], rel=1e-3), key
    # where a run is (ckpt_path) is not part of its TensorBoard run name; what it is, is
    (tb_run,) = [p.name for p in second.iterdir() if p.is_dir() and "=" in p.name]
    assert "ckpt_path" not in tb_run and "experiment=quickstart" in tb_run


@pytest.mark.slow
def test_ckpt_path_last_without_a_previous_run_says_what_to_do(tmp_path):
    out = _cli([*TINY, "model=densenet", "ckpt_path=last"], tmp_path)
    assert out.returncode == 2
    assert "ckpt_path=last" in out.stderr and "Traceback" not in out.stderr
