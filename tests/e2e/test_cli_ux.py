"""The command line explains itself: --help, plan --help, the summary line, progress lines
without a terminal, and no third-party noise -- through the real CLI (stderr piped, so not a TTY)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_run import SMALL_NET, TINY_FIT

CONF = Path(__file__).resolve().parents[2] / "conf"


def _run(cwd: Path, module: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WATTTIME_", "ELECTRICITYMAPS_"))}
    env["SCI_LIGHTNING_CACHE"] = str(cwd / "cache")
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_help_describes_the_app_its_groups_and_examples(tmp_path):
    proc = _run(tmp_path, "sci_lightning", "--help")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "powered by Hydra" not in text and "Software Carbon Intensity" in text
    for group in ("model", "data", "trainer", "energy", "carbon", "sci", "schedule", "experiment"):
        options = sorted(p.stem for p in (CONF / group).glob("*.yaml"))
        assert f"{group}: {', '.join(options)}" in text
        assert re.search(rf"^  {group} +\S.{{20,}}$", text, re.M), group  # a short description of the group
    assert "experiment=quickstart model=inception" in text
    assert "-m experiment=quickstart model=inception,densenet" in text
    assert "carbon=watttime" in text and "schedule=wait" in text
    assert "prometheus:" in text and "max_epochs:" in text  # the settings with their defaults
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_plan_help_shows_only_what_plan_takes(tmp_path):
    proc = _run(tmp_path, "sci_lightning.plan", "--help")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "least carbon" in text and "duration=2h" in text and "--slurm-begin" in text
    for absent in ("model:", "data:", "trainer:", "experiment:", "densenet", "powered by Hydra"):
        assert absent not in text, absent
    listed = re.search(r"^carbon=(.+)$", text, re.M).group(1).split(" | ")
    assert sorted(listed) == sorted(p.stem for p in (CONF / "carbon").glob("*.yaml"))


@pytest.mark.slow
def test_a_run_prints_progress_lines_and_ends_with_one_summary_line(tmp_path):
    out = tmp_path / "run"
    fit = [a for a in TINY_FIT if not a.startswith("trainer.max_epochs")]
    proc = _run(
        tmp_path,
        "sci_lightning",
        "experiment=quickstart",
        *fit,
        "trainer.max_epochs=2",
        *SMALL_NET,  # the lines' form does not depend on the network
        f"output_dir={out}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    progress = [line for line in proc.stderr.splitlines() if line.startswith("epoch ")]
    assert [p.split(" | ")[0] for p in progress] == ["epoch 1/2", "epoch 2/2"], proc.stderr
    for line in progress:
        assert "train/loss " in line and "val/acc " in line and " elapsed" in line
        assert re.search(r"energy [0-9.]+ (J|Wh|kWh)", line), line
    assert "left" in progress[0]
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("sci-lightning: completed test_resnet | val acc ")  # model.display_name
    report = json.loads((out / "sci_report.json").read_text())
    assert f"val acc {report['val_acc'] * 100:.1f}% final, in last.ckpt" in last
    assert " | time " in last and " | cost $" in last
    assert "estimated (cpu: CPU-time estimate, ram: RAM estimate)" in last
    assert "intensity " in last and "gCO2e/kWh, trace: DE_2023-05-31_48h.csv (DE, measured)" in last
    assert re.search(r"SCI [0-9.e-]+ gCO2e/job", last)
    assert last.endswith(f"report {out / 'sci_report.json'}") and (out / "sci_report.json").is_file()
    # third-party noise is filtered; nothing of it on either stream
    assert "litlogger" not in proc.stderr + proc.stdout
    assert "LeafSpec" not in proc.stderr
    assert "is available but is not used" not in proc.stderr  # Lightning's srun hint
    both = proc.stdout + proc.stderr
    assert both.count("GPU available:") == 1, both  # each Lightning INFO line once
    assert all(re.search(r"energy [0-9.]+ Wh \|", line) for line in progress)  # one unit on every line


_CLI_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from lightning.pytorch.cli import LightningCLI
from fake_nvml import TinyModule
LightningCLI(TinyModule, run=False, save_config_callback=None)
"""


@pytest.mark.slow
@pytest.mark.parametrize("sci, ok", [("{functional_unt: epoch}", False), ("{functional_unit: epoch}", True)])
def test_lightning_cli_refuses_a_nested_misspelling_at_parse_time_in_one_line(tmp_path, sci, ok):
    pytest.importorskip("jsonargparse")
    config = tmp_path / "cli.yaml"
    config.write_text(
        "trainer:\n  callbacks:\n    - class_path: sci_lightning.EnergyCarbonCallback\n"
        f"      init_args:\n        sci: {sci}\n        carbon: {{provider: static, region: FR}}\n"
    )
    script = tmp_path / "cli.py"
    script.write_text(_CLI_SCRIPT.format(tests=str(Path(__file__).parents[1] / "helpers")))
    proc = subprocess.run(
        [sys.executable, str(script), "--config", str(config), "--print_config"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if ok:
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "functional_unit: epoch" in proc.stdout
        return
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    assert errors == [errors[0]] and errors[0].startswith("error: Invalid setting sci.functional_unt")
    assert "Did you mean sci.functional_unit?" in errors[0] and "Traceback" not in proc.stderr
    assert "usage:" not in proc.stderr
