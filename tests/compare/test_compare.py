"""The comparison CLI (python -m sci_lightning.compare, compare/__main__.py).

The package's modules have their own files: test_records.py (job folders), test_tables.py
(differences and text), test_output.py (the files), test_charts.py (the PNGs); the Hydra
callback is tested in tests/app/test_hydra_callbacks.py. Inputs: tests/helpers/sweep_jobs.py.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sweep_jobs import two_model_sweep, write_job

from sci_lightning.compare.__main__ import main as compare_main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """Inception (job 0) vs DenseNet (job 1): tests/helpers/sweep_jobs.py."""
    return two_model_sweep(tmp_path)


# ------------------------------------------------------------------ CLI


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), MPLBACKEND="Agg")
    return subprocess.run(
        [sys.executable, "-m", "sci_lightning.compare", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_cli_on_job_folders(tmp_path: Path, sweep: Path):
    out = tmp_path / "cmp"
    # two job folders given one by one, densenet first: argument order, baseline by name
    p = _cli(
        str(sweep / "1"),
        str(sweep / "0"),
        "--baseline",
        "model=densenet",
        "--out",
        str(out),
        "--no-charts",
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr
    assert "InceptionV3 had 10.0% higher accuracy, 13.0% less $USD, 20.0% less energy" in p.stdout
    with open(out / "comparison.csv", newline="") as f:
        assert [r["label"] for r in csv.DictReader(f)] == ["DenseNet121", "InceptionV3"]


@pytest.mark.slow
def test_cli_on_sweep_folder_writes_into_it(tmp_path: Path, sweep: Path):
    write_job(sweep, 2, "resnet", None)
    p = _cli(str(sweep), cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "failed: no sci_report.json" in p.stdout
    assert (sweep / "comparison.md").is_file() and (sweep / "comparison_accuracy.png").is_file()


def test_cli_errors_exit_2_without_traceback(tmp_path: Path, sweep: Path):
    p = _cli(str(tmp_path / "missing"), cwd=tmp_path)
    assert p.returncode == 2 and "does not exist" in p.stderr and "Traceback" not in p.stderr
    assert compare_main([str(sweep), "--baseline", "resnet", "--no-charts", "-q"]) == 2


def test_cli_all_failed_exit_1(tmp_path: Path, capsys):
    s = tmp_path / "sw"
    s.mkdir()
    write_job(s, 0, "a", None)
    assert compare_main([str(s), "--no-charts", "--out", str(tmp_path / "o")]) == 1
    assert "failed: no sci_report.json" in capsys.readouterr().out
    assert (tmp_path / "o" / "comparison.csv").is_file()
