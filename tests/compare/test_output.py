"""Writing a comparison: comparison.{md,json,csv} and the charts (sci_lightning.compare.output)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sweep_jobs import two_model_sweep, write_job

import sci_lightning.compare as compare_pkg
from sci_lightning.compare import charts as Ch

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """Inception (job 0) vs DenseNet (job 1): tests/helpers/sweep_jobs.py."""
    return two_model_sweep(tmp_path)


# ------------------------------------------------------------------ output files


@pytest.mark.slow
def test_write_comparison_files(sweep: Path):
    write_job(sweep, 2, "resnet", None)
    comp = compare_pkg.compare_runs([sweep], baseline="densenet")
    written = compare_pkg.write_comparison(comp, sweep)
    for name in (
        "comparison.md",
        "comparison.json",
        "comparison.csv",
        "comparison.png",
        *(f"comparison_{c.name}.png" for c in Ch.CHARTS),
    ):
        assert name in written, name
        assert (sweep / name).stat().st_size > 0
    for png in sweep.glob("comparison*.png"):
        assert png.read_bytes()[:8] == PNG_MAGIC

    with open(sweep / "comparison.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["run_name"] for r in rows] == ["model=inception", "model=densenet", "model=resnet"]
    assert float(rows[0]["cost_usd_diff_pct"]) == pytest.approx(-13.0)
    assert rows[1]["is_baseline"] == "True" and rows[1]["energy_quality"] == "estimated"
    assert rows[2]["status"] == "failed: no sci_report.json" and rows[2]["val_acc"] == ""

    data = json.loads((sweep / "comparison.json").read_text())
    assert data["baseline"]["label"] == "DenseNet121"
    assert data["jobs"][0]["phrases"][:2] == ["10.0% higher accuracy", "13.0% less $USD"]
    assert data["jobs"][0]["val_acc_diff_pct"] == pytest.approx(10.0)
    assert data["jobs"][2]["status"] == "failed: no sci_report.json"
    assert "comparison_energy.png" in data["charts"]

    md = (sweep / "comparison.md").read_text()
    assert "InceptionV3 had 10.0% higher accuracy, 13.0% less $USD" in md
    assert "failed: no sci_report.json" in md
    assert "1.00 (est.)" in md  # densenet's estimated energy is marked
    assert "![comparison_sci](comparison_sci.png)" in md
    assert "(value - baseline_value) / |baseline_value|" in md


def test_csv_and_json_without_charts(tmp_path: Path, sweep: Path):
    out = tmp_path / "out"
    written = compare_pkg.write_comparison(compare_pkg.compare_runs([sweep]), out, charts=False)
    assert sorted(written) == ["comparison.csv", "comparison.json", "comparison.md"]
    assert not list(out.glob("*.png"))
    md = (out / "comparison.md").read_text()
    # default baseline = first job (inception): densenet has 9.09% lower accuracy (0.50 vs 0.55)
    assert "DenseNet121 had 9.09% lower accuracy, 14.9% more $USD, 25.0% more energy" in md


def test_a_chart_failure_is_logged_and_the_text_files_are_written(
    tmp_path: Path, sweep: Path, monkeypatch, caplog
):
    from sci_lightning.compare import output

    def broken(comp, out):
        raise RuntimeError("no display")

    monkeypatch.setattr(output, "write_charts", broken)
    written = compare_pkg.write_comparison(
        compare_pkg.compare_runs([sweep]), tmp_path / "o", source="sweep X"
    )
    assert sorted(written) == ["comparison.csv", "comparison.json", "comparison.md"]
    assert "Comparison charts not written (RuntimeError: no display); the table files are." in caplog.text
    assert json.loads((tmp_path / "o" / "comparison.json").read_text())["charts"] == []
    assert "sweep X" in (tmp_path / "o" / "comparison.md").read_text()
