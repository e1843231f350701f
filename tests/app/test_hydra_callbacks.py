"""The Hydra callback that compares a sweep's jobs (sci_lightning.app.hydra_callbacks.ComparisonCallback):
on_multirun_end writes the comparison, on_job_end records a failed job, and it never raises."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from sweep_jobs import two_model_sweep, write_job

from sci_lightning.app.hydra_callbacks import ComparisonCallback
from sci_lightning.compare import records as R

REPO = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """Inception (job 0) vs DenseNet (job 1): tests/helpers/sweep_jobs.py."""
    return two_model_sweep(tmp_path)


# ------------------------------------------------------------------ Hydra callback


def _hydra_cfg(sweep_dir: Path, **compare):
    return OmegaConf.create(
        {
            "hydra": {
                "sweep": {"dir": str(sweep_dir)},
                "mode": "MULTIRUN",
                "runtime": {"output_dir": str(sweep_dir / "2")},
            },
            "compare": {"baseline": None, **compare},
        }
    )


@pytest.mark.slow
def test_callback_on_multirun_end_writes_files_and_prints(sweep: Path, capsys):
    write_job(sweep, 2, "resnet", None)
    cb = ComparisonCallback(baseline="inception")
    cfg = _hydra_cfg(sweep, baseline="densenet")  # the job config's compare.baseline wins
    cb.on_multirun_start(cfg)
    cb.on_multirun_end(cfg)
    out = capsys.readouterr().out
    assert "InceptionV3 had 10.0% higher accuracy" in out and "failed: no sci_report.json" in out
    data = json.loads((sweep / "comparison.json").read_text())
    assert data["baseline"]["label"] == "DenseNet121"
    assert (sweep / "comparison.png").read_bytes()[:8] == PNG_MAGIC


def test_callback_kwarg_baseline_unknown_baseline_and_disabled(sweep: Path, caplog):
    cb = ComparisonCallback(baseline="densenet", charts=False)
    cb.on_multirun_end(_hydra_cfg(sweep))  # compare.baseline None -> kwarg
    assert json.loads((sweep / "comparison.json").read_text())["baseline"]["label"] == "DenseNet121"

    cb.on_multirun_end(_hydra_cfg(sweep, baseline="resnet"))  # unknown: warn, first job, no crash
    assert json.loads((sweep / "comparison.json").read_text())["baseline"]["label"] == "InceptionV3"
    assert "matches no job" in caplog.text

    (sweep / "comparison.json").unlink()
    cb.on_multirun_end(_hydra_cfg(sweep, enabled=False))
    assert not (sweep / "comparison.json").exists()


def test_callback_records_failed_job_and_refreshes(sweep: Path, monkeypatch):
    from hydra.core.utils import JobReturn, JobStatus

    monkeypatch.setenv("ELECTRICITYMAPS_API_KEY", "em-key-123456")
    job_dir = sweep / "2"
    cfg = _hydra_cfg(sweep, charts=False)
    ret = JobReturn(overrides=["model=resnet"], status=JobStatus.FAILED)
    ret.return_value = RuntimeError("provider said no to em-key-123456")
    cb = ComparisonCallback()
    cb.on_multirun_start(cfg)
    cb.on_job_end(cfg, job_return=ret)
    status = json.loads((job_dir / R.JOB_STATUS_FILE).read_text())
    assert status["error_type"] == "RuntimeError" and "em-key-123456" not in status["error"]
    # Hydra skips on_multirun_end after a failed job: the table must already exist
    md = (sweep / "comparison.md").read_text()
    assert "failed: RuntimeError: provider said no to [redacted]" in md
    assert "InceptionV3" in md and "DenseNet121" in md


def test_callback_never_raises_on_missing_sweep_dir(tmp_path: Path):
    cb = ComparisonCallback()
    cb.on_multirun_end(_hydra_cfg(tmp_path / "never-created"))  # logs, does not raise
    assert not (tmp_path / "never-created").exists()


# ------------------------------------------------------------------ a real Hydra multirun (tiny app, no training)

_APP = """
import json, os
import hydra
from hydra.core.hydra_config import HydraConfig

ACC = {"inception": 0.55, "densenet": 0.50}

@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg):
    if cfg.model == "broken":
        raise RuntimeError("boom: bad model")
    out = HydraConfig.get().runtime.output_dir
    report = {"schema_version": 1, "model": cfg.model + "_net", "run_name": "model=" + cfg.model,
              "val_acc": ACC[cfg.model], "duration_s": 100.0, "energy_kwh": {"total": 0.1, "components": []},
              "cost_usd": 0.5, "sci": {"value": 1.0, "unit": "gCO2e/job"},
              "quality": {"energy": "estimated", "intensity": "estimated"}}
    with open(os.path.join(out, "sci_report.json"), "w") as f:
        json.dump(report, f)

if __name__ == "__main__":
    main()
"""

_APP_CONF = """
model: inception
compare:
  baseline: null
  charts: false
hydra:
  sweep:
    dir: SWEEP_DIR
  callbacks:
    comparison:
      _target_: sci_lightning.app.hydra_callbacks.ComparisonCallback
      baseline: densenet
"""


@pytest.mark.slow
def test_real_hydra_multirun_with_a_failed_job(tmp_path: Path):
    """Hydra's sweeper re-raises a failed job and skips on_multirun_end: the table must still be there."""
    (tmp_path / "conf").mkdir()
    sweep = tmp_path / "multirun" / "sweep1"
    (tmp_path / "conf" / "config.yaml").write_text(_APP_CONF.replace("SWEEP_DIR", str(sweep)))
    (tmp_path / "app.py").write_text(_APP)
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), MPLBACKEND="Agg")

    p = subprocess.run(
        [sys.executable, "app.py", "-m", "model=inception,densenet"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert p.returncode == 0, p.stderr
    assert "Model comparison" in p.stdout and "inception_net had 10.0% higher accuracy" in p.stdout
    assert json.loads((sweep / "comparison.json").read_text())["baseline"]["model"] == "densenet_net"

    sweep2 = tmp_path / "multirun" / "sweep2"
    (tmp_path / "conf" / "config.yaml").write_text(_APP_CONF.replace("SWEEP_DIR", str(sweep2)))
    p = subprocess.run(
        [sys.executable, "app.py", "-m", "model=inception,broken,densenet"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert p.returncode != 0  # Hydra reports the failed job
    with open(sweep2 / "comparison.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["status"] for r in rows] == ["ok", "failed: RuntimeError: boom: bad model", "ok"]
    assert "inception_net had 10.0% higher accuracy" in (sweep2 / "comparison.md").read_text()
