"""Writing a run's files (sci/writer.py): the three files, one report, stages added later."""

from __future__ import annotations

import json

from sci_lightning.sci.report import SciReport
from sci_lightning.sci.writer import add_stages, write_run_report


def test_writes_json_markdown_and_manifest_that_agree(tmp_path, small_run):
    result, energy = small_run()
    report = write_run_report(tmp_path / "run", result, energy, {"model": "m", "run_name": "r"})
    files = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert files == ["impact.yml", "sci_report.json", "sci_report.md"]
    assert json.loads((tmp_path / "run" / "sci_report.json").read_text()) == report.to_dict()
    assert SciReport.read(tmp_path / "run").sci.value == result.sci == 200.0
    assert "if-run --manifest impact.yml" in (tmp_path / "run" / "impact.yml").read_text()


def test_add_stages_rewrites_the_report_and_its_markdown(tmp_path, small_run):
    result, energy = small_run()
    write_run_report(tmp_path, result, energy, {"model": "m"})
    stage = {"stage": "test", "energy_kwh": 0.01, "duration_s": 5.0, "batches": 2, "samples": 64}
    report = add_stages(tmp_path / "sci_report.json", [stage])
    assert [s.stage for s in report.stages] == ["test"]
    assert SciReport.read(tmp_path).stages[0].samples == 64
    assert "test" in (tmp_path / "sci_report.md").read_text()
