"""Through a real one-node SLURM cluster (tests/slurm_cluster.py): the submitit sweep, a
time-limit preemption that Lightning requeues, a manual ``scontrol requeue``.

Each job is a real ``python -m sci_lightning`` process started by slurmd; the tests skip,
with the reason, where the cluster cannot start (not root, no slurm-wlm/munge).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_run import TINY_FIT

pytestmark = pytest.mark.slow


def _cli_env(cluster, cwd: Path) -> dict[str, str]:
    env = {k: v for k, v in cluster.env.items() if not k.startswith(("WATTTIME_", "ELECTRICITYMAPS_", "SLURM_JOB"))}
    env.update(HYDRA_FULL_ERROR="", SCI_LIGHTNING_CACHE=str(cwd / "cache"))
    return env


def test_submitit_sweep_runs_as_slurm_jobs_and_names_the_failed_one(slurm_cluster, tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    sweep = tmp_path / "sweep"
    # InceptionV3 refuses 32 px (it needs 75): that job fails, DenseNet trains.
    cmd = [sys.executable, "-m", "sci_lightning", "-m", "hydra/launcher=submitit_slurm",
           "hydra.launcher.timeout_min=10", "experiment=quickstart", *TINY_FIT, "model=inception,densenet",
           "model.image_size=32", f"hydra.sweep.dir={sweep}"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=_cli_env(slurm_cluster, tmp_path), capture_output=True, text=True,
                          timeout=400)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "1 job(s) of the sweep failed" in proc.stderr and "inception_v3 needs at least 75 px" in proc.stderr
    comparison = json.loads((sweep / "comparison.json").read_text())
    by_status = {str(j.get("status", "")).split(":")[0]: j for j in comparison["jobs"]}
    assert set(by_status) == {"failed", "ok"}, comparison["jobs"]
    assert "model=inception" in json.dumps(by_status["failed"])
    # the jobs ran as SLURM jobs: submitit's folder per job id, and the trained job's report says which
    job_ids = sorted(p.name for p in (sweep / ".submitit").iterdir() if "_" in p.name and p.is_dir())
    assert len(job_ids) == 2, job_ids  # one array job, a task per model: "<array id>_<task>"
    energy = json.loads((sweep / "1" / "energy.json").read_text())
    assert energy["status"] == "completed"
    assert energy["parts"][0]["slurm"]["job_id"] in job_ids
