"""Bad input is refused before work starts, secrets never reach a file, concurrent runs keep
apart, and a sweep with a failed job says so in its exit status -- through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_run import SMALL_NET, TINY_FIT

from sci_lightning.fileio import atomic_write_json

pytestmark = pytest.mark.slow


def _cli(cwd: Path, *args: str, env: dict[str, str] | None = None, wait: bool = True):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("WATTTIME_", "ELECTRICITYMAPS_"))}
    full_env.update(env or {})
    full_env["HYDRA_FULL_ERROR"] = ""
    full_env["SCI_LIGHTNING_CACHE"] = str(cwd / "cache")  # so the test sees whether data was built
    cmd = [sys.executable, "-m", "sci_lightning", *args]
    if not wait:
        return subprocess.Popen(
            cmd, cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    return subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300)


def _all_text(root: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    "override, named",
    [
        ("energy.pue=inf", "energy.pue=inf"),
        ("carbon.retries=-1", "carbon.retries=-1"),
        ("carbon.timeout_s=-1", "carbon.timeout_s=-1.0"),
        ("trainer.devices=abc", "trainer.devices='abc'"),
        ("sci.price_per_hour_usd=-2", "sci.price_per_hour_usd=-2.0"),
        ("carbon=watttime", "WATTTIME_USERNAME and WATTTIME_PASSWORD"),
        ("carbon=electricity_maps", "ELECTRICITYMAPS_TOKEN"),
        ("schedule=interrupt schedule.pause=exit", "trainer.max_steps=-1"),
    ],
)
def test_bad_input_is_refused_before_training(tmp_path, override, named):
    proc = _cli(
        tmp_path, "experiment=quickstart", *TINY_FIT, f"output_dir={tmp_path / 'run'}", *override.split()
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: Invalid setting") and named in last
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "run" / "run_summary.json").exists()
    assert not (tmp_path / "cache").exists(), "data was built before the refusal"


def test_secret_override_is_refused_before_hydra_saves_it(tmp_path):
    proc = _cli(tmp_path, "+carbon.password=hunter2-secret", f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 2
    assert "carbon.password" in proc.stderr and "hunter2-secret" not in proc.stderr + proc.stdout
    assert "hunter2-secret" not in _all_text(tmp_path)
    assert not (tmp_path / "run" / ".hydra").exists()


def test_two_runs_started_together_keep_separate_folders(tmp_path):
    args = ["experiment=quickstart", *TINY_FIT, *SMALL_NET]  # the folders do not depend on the network
    runs = [_cli(tmp_path, *args, wait=False) for _ in range(2)]
    for proc in runs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    summaries = sorted((tmp_path / "outputs" / "runs").rglob("run_summary.json"))
    assert len(summaries) == 2 and summaries[0].parent != summaries[1].parent


def test_joblib_sweep_with_a_failed_job_exits_non_zero(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    # InceptionV3 refuses 32 px (it needs 75): that job fails, DenseNet trains.
    proc = _cli(
        tmp_path,
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "experiment=quickstart",
        *TINY_FIT,
        "model=inception,densenet",
        "model.image_size=32",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert (
        "1 job(s) of the sweep failed" in proc.stderr and "inception_v3 needs at least 75 px" in proc.stderr
    )
    comparison = json.loads((tmp_path / "sweep" / "comparison.json").read_text())
    failed = [j for j in comparison["jobs"] if str(j.get("status", "")).startswith("failed")]
    assert len(failed) == 1 and "model=inception" in json.dumps(failed[0])


def test_json_files_are_strict(tmp_path):
    atomic_write_json(tmp_path / "x.json", {"a": float("inf"), "b": [float("nan"), 1.5]})
    text = (tmp_path / "x.json").read_text()
    assert json.loads(text) == {"a": None, "b": [None, 1.5]}
    assert "Infinity" not in text and "NaN" not in text
