"""benchmarks/gpu_check.py end to end in its --tiny CPU form, without hydra/omegaconf.

The GPU session runs the script once, with no chance to fix it; this runs every section
(input path, MFU, settings ablation, energy, read throttle, peers) in a tiny form on CPU, in a subprocess where
``hydra`` and ``omegaconf`` cannot be imported (the device image lacks them), and checks
the JSON it writes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"

_RUN = (
    "import runpy, sys; sys.modules['hydra'] = None; sys.modules['omegaconf'] = None; "
    "sys.argv = ['gpu_check.py'] + sys.argv[1:]; runpy.run_path({script!r}, run_name='__main__')"
)


@pytest.mark.slow
def test_gpu_check_tiny_runs_every_section_without_hydra(tmp_path):
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-c",
        _RUN.format(script=str(SCRIPT)),
        "--tiny",
        "--out",
        str(out),
        "--models",
        "test_resnet",
        "--input-variants",
        "reference",
        "--data-dir",
        str(tmp_path / "data"),
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "time estimate:" in proc.stdout

    report = json.loads((out / "gpu_check_tiny.json").read_text())
    assert report["mode"].startswith("tiny")
    assert not report.get("errors"), report.get("errors")
    assert set(report["sections"]) == {"input", "mfu", "ablation", "energy", "throttle", "peers"}
    caps = report["section_caps_s"]
    assert set(caps) == set(report["sections"])
    for name, took in report["section_s"].items():  # every section kept to its cap (a little slack)
        assert took <= caps[name] + 15, (name, took, caps[name])
    assert report["estimate_total_s"] > 0 and report["total_s"] > 0

    inp = report["sections"]["input"]
    assert inp["data"]["images"] == inp["data"]["classes"] * (
        inp["data"]["train_per_class"] + inp["data"]["val_per_class"]
    )
    paths = {r["path"]: r for r in inp["runs"]}
    assert set(paths) == {"tensors", "fast", "reference"}
    assert all(r["images_per_s"] > 0 and r["timed_steps"] >= 3 for r in paths.values())
    fast = next(r for r in inp["ratios"] if r["path"] == "fast")
    assert fast["ratio_to_tensors"] > 0 and isinstance(fast["meets_goal"], bool)

    mfu = report["sections"]["mfu"]
    assert mfu["peak"]["peak_flop_per_s"] > 0
    (m,) = mfu["models"]
    assert m["flops_per_image"] > 0 and m["mfu_tensors"] > 0 and m["mfu_fast"] > 0

    abl = {r["setting"]: r for r in report["sections"]["ablation"]["runs"]}
    assert {"default", "bf16_mixed", "fp16_mixed", "no_channels_last", "no_cudnn_benchmark"} <= set(abl)
    assert abl["default"]["images_per_s"] > 0 and abl["no_channels_last"]["ratio_to_default"] > 0
    assert "skipped" in abl["fp16_mixed"]  # a GPU setting

    (e,) = report["sections"]["energy"]["models"]
    assert e["model"] == "test_resnet" and e["images_per_s"] > 0 and e["overhead"]["median_ratio"] > 0

    thr = report["sections"]["throttle"]
    (t,) = thr["models"]
    assert t["model"] == "test_resnet" and t["rounds"] >= 1
    assert set(t["median_ratio_to_none"]) == {"throttled", "every_step"}
    assert all(v > 0 for v in t["median_ratio_to_none"].values())
    assert t["callback"]["every_step"]["read_interval_s"] == 0.0
    assert t["callback"]["throttled"]["read_interval_s"] >= 0.1
    costs = {c["min_read_interval_s"]: c for c in thr["read_cost"]}
    assert set(costs) == {0.1, 0.0} and all(c["us_per_call"] > 0 for c in costs.values())

    peers = report["sections"]["peers"]
    assert peers["rounds_done"] >= 1 and peers["device"] == "cpu"
    for arm, why in peers["missing"].items():  # a missing package: skipped, no process
        assert "skipped" in peers["arms"][arm] and "not installed" in why
    sci = peers["arms"]["sci_lightning"]
    assert sci["median_train_ratio"] > 0 and sci["median_fit_ratio"] > 0 and sci["energy_kwh"][0] > 0
    assert set(sci["hook_s"]) >= {"constructor", "setup", "on_fit_start", "on_fit_end"}

    md = (out / "gpu_check_tiny.md").read_text()
    for heading in (
        "## Input path",
        "## Model FLOPs utilization",
        "## trainer=gpu settings",
        "## Energy",
        "## Read throttle",
        "## Peers",
        "## Not measured",
    ):
        assert heading in md
    assert "CPU only" in md and "--tiny" in md
