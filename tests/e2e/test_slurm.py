"""Through a real one-node SLURM cluster (tests/helpers/slurm_cluster.py): the submitit sweep, a
time-limit preemption that Lightning requeues, a manual ``scontrol requeue``.

Each job is a real ``python -m sci_lightning`` process started by slurmd; the tests skip,
with the reason, where the cluster cannot start (not root, no slurm-wlm/munge).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tiny_run import SMALL_NET, TINY_FIT

pytestmark = pytest.mark.slow


def _cli_env(cluster, cwd: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in cluster.env.items()
        if not k.startswith(("WATTTIME_", "ELECTRICITYMAPS_", "SLURM_JOB"))
    }
    env.update(HYDRA_FULL_ERROR="", SCI_LIGHTNING_CACHE=str(cwd / "cache"))
    return env


@pytest.mark.timeout(600)
def test_submitit_sweep_runs_as_slurm_jobs_and_names_the_failed_one(slurm_cluster, tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    sweep = tmp_path / "sweep"
    # InceptionV3 refuses 32 px (it needs 75): that job fails, DenseNet trains.
    cmd = [
        sys.executable,
        "-m",
        "sci_lightning",
        "-m",
        "hydra/launcher=submitit_slurm",
        "hydra.launcher.timeout_min=10",
        "experiment=quickstart",
        *TINY_FIT,
        "model=inception,densenet",
        "model.image_size=32",
        f"hydra.sweep.dir={sweep}",
    ]
    proc = subprocess.run(
        cmd, cwd=tmp_path, env=_cli_env(slurm_cluster, tmp_path), capture_output=True, text=True, timeout=400
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert (
        "1 job(s) of the sweep failed" in proc.stderr and "inception_v3 needs at least 75 px" in proc.stderr
    )
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


def _seconds(hms: str) -> int:
    """SLURM's ``[D-]HH:MM:SS`` as seconds."""
    days, _, clock = hms.rpartition("-")
    h, m, s = (int(x) for x in clock.split(":"))
    return int(days or 0) * 86400 + h * 3600 + m * 60 + s


def _wait_for(path: Path, cluster, job_id: str, out: Path, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        state = cluster.job_field(job_id, "JobState")
        if (
            state in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL")
            or time.monotonic() > deadline
        ):
            log = out.read_text(errors="replace")[-4000:] if out.exists() else ""
            pytest.fail(f"job {job_id} is {state} and never wrote {path.name}\n{log}\n{cluster.log_tail()}")
        time.sleep(0.5)


def _release_requeued(cluster, job_id: str, restarts: int) -> None:
    """SLURM holds a requeued job ~2 minutes (BeginTime); start it now, with a long time limit again."""
    deadline = time.monotonic() + 300  # the stopped run has KillWait (60 s) to write its part
    while not (
        cluster.job_field(job_id, "JobState") == "PENDING"
        and cluster.job_field(job_id, "Restarts") == str(restarts)
    ):
        assert time.monotonic() < deadline, (
            f"job {job_id} was not requeued ({cluster.job_field(job_id, 'JobState')})"
        )
        time.sleep(0.5)
    for setting in ("TimeLimit=10", "StartTime=now"):
        done = cluster.run("scontrol", "update", f"JobId={job_id}", setting)
        assert done.returncode == 0, done.stderr


@pytest.mark.timeout(900)
def test_time_limit_preemption_then_manual_requeue_resume_into_one_report(slurm_cluster, tmp_path):
    """Run 1 is preempted by SLURM's time limit (SIGUSR1: Lightning checkpoints and requeues),
    run 2 by ``scontrol requeue``; run 3 finishes. One report, the sum of the three runs."""
    cluster, out, run_dir = slurm_cluster, tmp_path / "job.out", tmp_path / "run"
    overrides = [
        "experiment=quickstart",
        *SMALL_NET,  # the parts and their sum do not depend on the network
        *TINY_FIT,
        "trainer.max_epochs=3",
        f"output_dir={run_dir}",
    ]
    script = tmp_path / "job.sh"
    script.write_text(
        "\n".join(
            [
                "#!/bin/bash",
                f"#SBATCH --time=10 --signal=USR1@120 --requeue --open-mode=append -o {out} -D {tmp_path}",
                f"srun {sys.executable} {Path(__file__).parents[1] / 'helpers' / 'slurm_train.py'} {tmp_path} 2 {' '.join(overrides)}",
                "",
            ]
        )
    )
    submitted = cluster.run("sbatch", str(script), timeout_s=30)
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.split()[-1]
    try:
        _wait_for(tmp_path / "holding-0", cluster, job_id, out)
        # bring the time limit within 120 s: SLURM sends SIGUSR1 (--signal=USR1@120)
        elapsed_s = _seconds(cluster.job_field(job_id, "RunTime"))
        limit = cluster.run("scontrol", "update", f"JobId={job_id}", f"TimeLimit={elapsed_s // 60 + 2}")
        assert limit.returncode == 0, limit.stderr
        _release_requeued(cluster, job_id, 1)
        _wait_for(tmp_path / "holding-1", cluster, job_id, out)
        assert cluster.run("scontrol", "requeue", job_id).returncode == 0
        _release_requeued(cluster, job_id, 2)
        state = cluster.wait_job(job_id, {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"}, timeout_s=300)
    finally:
        cluster.run("scancel", job_id)
    log = out.read_text(errors="replace")
    assert state == "COMPLETED", log[-4000:]
    assert (
        "Handling auto-requeue signal" in log and (run_dir / "hpc_ckpt_1.ckpt").is_file()
    )  # Lightning had SIGUSR1

    energy = json.loads((run_dir / "energy.json").read_text())
    report = json.loads((run_dir / "sci_report.json").read_text())
    parts = energy["parts"]
    assert [p["status"] for p in parts] == ["interrupted", "interrupted", "completed"]
    assert [p["slurm"]["job_id"] for p in parts] == [job_id] * 3
    assert [p["slurm"]["restart_count"] for p in parts] == [0, 1, 2]
    assert [p["steps"] for p in parts] == [2, 2, 2] and energy["steps"] == 6
    assert sum(p["images"] for p in parts) == energy["images"]
    assert sum(p["it_energy_j"] for p in parts) == pytest.approx(energy["it_energy_j"], rel=1e-9)
    assert report["parts"] == parts and report["status"] == "completed"
    gaps = [w for w in report["warnings"] if "were not measured" in w and f"SLURM job {job_id}" in w]
    assert len(gaps) == 2, report["warnings"]
