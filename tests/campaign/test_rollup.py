"""The campaign roll-up over real (tiny, CPU) runs written by EnergyCarbonCallback: a failed run,
an interrupted run resumed in another folder, a failed run without a report and an empty job
folder (tests/campaign/conftest.py); the CLI; the comparison's campaign line. The files written
and the Impact Framework manifest: test_output.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sci_lightning.campaign import CampaignRun, build_campaign, campaign_line
from sci_lightning.compare import compare_runs
from sci_lightning.compare.tables import markdown_report, text_summary
from sci_lightning.sci.report import load_report


def test_campaign_total_is_the_sum_of_the_runs_own_reports(campaign_dir):
    failed, part1, resumed = (load_report(campaign_dir / n) for n in ("a_failed", "b_part1", "c_resumed"))
    assert failed.status == "failed" and part1.status == "interrupted" and resumed.status == "completed"
    assert len(resumed.parts) == 2 and resumed.parts[0]["started_at"] == part1.parts[0]["started_at"]
    energy_only = json.loads((campaign_dir / "d_failed_no_report" / "energy.json").read_text())
    assert not (campaign_dir / "d_failed_no_report" / "sci_report.json").exists()

    c = build_campaign([campaign_dir])
    runs = {r.name: r for r in c.runs}
    assert c.final is runs["c_resumed"] and len(c.runs) == 5
    # b_part1 is inside c_resumed's total (its checkpoint lineage): counted once, in c_resumed
    assert runs["b_part1"].counted_fraction == 0 and runs["b_part1"].included_in == ["c_resumed"]
    assert runs["b_part1"].share == 0 and runs["c_resumed"].counted_fraction == 1
    assert runs["e_empty"].status == "no measurement" and runs["e_empty"].share == 0
    assert "disk full" in runs["e_empty"].reason
    assert runs["d_failed_no_report"].status == "failed" and runs["d_failed_no_report"].estimated

    reported = [failed, resumed]
    assert c.energy_kwh == pytest.approx(
        sum(r.energy_kwh.total for r in reported) + energy_only["energy_kwh"]
    )
    d = runs["d_failed_no_report"]
    assert c.operational_g == pytest.approx(sum(r.operational_g for r in reported) + d.operational_g)
    assert c.embodied_g == pytest.approx(sum(r.embodied_g for r in reported) + d.embodied_g)
    assert c.cost_usd == pytest.approx(sum(r.cost_usd for r in reported) + d.cost_usd)
    assert c.duration_s == pytest.approx(sum(r.duration_s for r in reported) + energy_only["duration_s"])
    # the estimate for the run without a report: its energy at the reported runs' mean intensity
    mean_i = sum(r.operational_g for r in reported) / sum(r.energy_kwh.total for r in reported)
    assert d.operational_g == pytest.approx(energy_only["energy_kwh"] * mean_i)
    assert sum(r.share for r in c.runs) == pytest.approx(1.0)
    # per functional unit of the final model
    for unit, n in resumed.functional_unit_counts.items():
        if n > 0:
            assert c.sci_per[unit] == pytest.approx(c.carbon_g / n)
    assert c.functional_unit == "job" and c.sci == pytest.approx(c.carbon_g)


def test_final_run_can_be_chosen_and_a_wrong_one_is_refused(campaign_dir):
    c = build_campaign([campaign_dir], final=campaign_dir / "a_failed")
    assert c.final.name == "a_failed"
    with pytest.raises(Exception, match="has no readable sci_report.json"):
        build_campaign([campaign_dir], final=campaign_dir / "e_empty")


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sci_lightning.campaign", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_cli_writes_the_files_and_refuses_bad_input_in_one_line(campaign_dir, tmp_path):
    out = _cli(str(campaign_dir), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(
        "Campaign of tiny_mlp (all 5 runs: 1 completed, 1 interrupted, 2 failed, 1 no measurement): "
    )
    assert (tmp_path / "out" / "campaign.md").is_file()
    (tmp_path / "nothing").mkdir()
    cases = {
        str(tmp_path / "missing"): "does not exist",
        str(tmp_path / "nothing"): "No run folder found",
    }
    for arg, words in cases.items():
        proc = _cli(arg, cwd=tmp_path)
        assert proc.returncode == 2 and words in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("error: ")
    proc = _cli(str(campaign_dir / "e_empty"), cwd=tmp_path)
    assert proc.returncode == 2 and "--final RUN_DIR" in proc.stderr
    proc = _cli(str(campaign_dir), "--final", str(tmp_path), "--out", str(tmp_path / "o2"), cwd=tmp_path)
    assert proc.returncode == 2 and "is not one of the campaign's run folders" in proc.stderr


def test_comparison_ends_with_the_campaign_line(campaign_dir):
    comp = compare_runs([campaign_dir])
    line = campaign_line(build_campaign([campaign_dir]))
    assert markdown_report(comp).rstrip().splitlines()[-1] == line
    assert text_summary(comp).rstrip().splitlines()[-1] == line


def _run(name: str, parts: list[tuple[str, float]], energy_kwh: float) -> CampaignRun:
    return CampaignRun(
        path=Path("/nowhere") / name,
        name=name,
        status="completed",
        source="sci_report.json",
        energy_kwh=energy_kwh,
        operational_g=100 * energy_kwh,
        parts=[{"started_at": s, "energy_j": j} for s, j in parts],
    )


def test_shared_parts_count_once_branches_and_partial_resumes():
    from sci_lightning.campaign.rollup import attribute_parts

    # a (interrupted, 10 J) resumed twice from its last checkpoint: b and c each hold a's part
    a, b, c = (
        _run("a", [("t0", 10.0)], 1.0),
        _run("b", [("t0", 10.0), ("t1", 30.0)], 4.0),
        _run("c", [("t0", 10.0), ("t2", 10.0)], 2.0),
    )
    attribute_parts([a, b, c])
    assert a.counted_fraction == 0 and a.included_in == ["b"]
    assert b.counted_fraction == 1 and c.counted_fraction == pytest.approx(0.5) and c.included_in == ["b"]
    # d resumed from an earlier checkpoint of e: e's part counts the energy after that checkpoint
    d, e = _run("d", [("t0", 4.0), ("t1", 6.0)], 1.0), _run("e", [("t0", 10.0)], 1.0)
    attribute_parts([e, d])
    assert d.counted_fraction == 1 and e.counted_fraction == pytest.approx(0.6) and e.included_in == ["d"]


def test_a_killed_folder_without_files_is_listed_as_counted_in_the_run_that_resumed_it(tmp_path):
    from sci_lightning.campaign.rollup import attribute_parts, read_run

    (tmp_path / "killed" / ".hydra").mkdir(parents=True)
    killed = read_run(tmp_path / "killed")
    resumed = _run("resumed", [("t0", 5.0), ("t1", 5.0)], 1.0)
    resumed.parts[0]["checkpoint"] = str(tmp_path / "killed" / "checkpoints" / "last.ckpt")
    attribute_parts([killed, resumed])
    assert killed.status == "no measurement" and killed.counted("energy_kwh") == 0
    assert killed.included_in == ["resumed"] and resumed.counted_fraction == 1


def test_one_campaign_line_per_model_and_only_runs_counted(campaign_dir, tmp_path):
    """Two models' runs: one line each (never merged); a plan folder and a run refused before training
    (only ``.hydra/``) are not runs; the CLI asks which model."""
    root = tmp_path / "outputs"
    shutil.copytree(campaign_dir, root / "tiny")
    other = root / "other" / "run1"
    other.mkdir(parents=True)
    report = json.loads((campaign_dir / "c_resumed" / "sci_report.json").read_text())
    report["model"], report["parts"] = "other_net", report["parts"][-1:]
    report["parts"][0]["started_at"] = "2031-01-01T00:00:00+00:00"  # a part of its own
    (other / "sci_report.json").write_text(json.dumps(report))
    plan = root / "plan" / "2026-12-03" / "10-00-00" / ".hydra"
    plan.mkdir(parents=True)
    (plan / "config.yaml").write_text("duration: 2h\ncarbon:\n  provider: static\n")
    refused = root / "runs" / "2026-12-03" / "10-01-00_inception_p1" / ".hydra"
    refused.mkdir(parents=True)
    (refused / "config.yaml").write_text("model:\n  name: inception_v3\n")
    (refused.parent / "__main__.log").write_text("")

    from sci_lightning.campaign.rollup import collect_runs

    names = {r.path.name for r in collect_runs([root])}
    assert "10-00-00" not in names and "10-01-00_inception_p1" not in names
    lines = sorted(compare_runs([root]).campaign.splitlines(), key=lambda x: "other_net" in x)
    # the two runs of unknown model (no report, no .hydra) belong to neither model when there are two
    assert len(lines) == 2 and lines[0].startswith("Campaign of tiny_mlp (all 3 runs: ")
    assert lines[1].startswith("Campaign of other_net (all 1 runs: 1 completed)")
    proc = _cli(str(root), "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert proc.returncode == 2 and "runs of 2 models" in proc.stderr and "--final" in proc.stderr
    proc = _cli(str(root), "--final", str(other), "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert proc.returncode == 0 and "Campaign of other_net (all 1 runs" in proc.stdout


def test_binary_report_is_listed_not_fatal(tmp_path):
    from sci_lightning.campaign.rollup import read_run

    with_energy, alone = tmp_path / "with_energy", tmp_path / "alone"
    for folder in (with_energy, alone):
        folder.mkdir()
        (folder / "sci_report.json").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(512))
    (with_energy / "energy.json").write_text(
        json.dumps(
            {
                "schema_version": 1,
                "started_at": "2026-11-28T20:00:00+00:00",
                "ended_at": "2026-11-28T20:00:10+00:00",
                "duration_s": 10.0,
                "energy_j": 360.0,
                "it_energy_j": 360.0,
                "energy_kwh": 1e-4,
                "pue": 1.0,
                "steps": 2,
                "epochs": 1,
                "images": 4,
                "world_size": 1,
                "warnings": [],
                "timeline": [],
                "status": "completed",
                "components": [
                    {
                        "component": "cpu",
                        "device": "vm",
                        "energy_j": 360.0,
                        "method": "cpu_time_tdp_estimate",
                        "quality": "estimated",
                        "status": "ok",
                        "notes": [],
                    }
                ],
            }
        )
    )
    run = read_run(alone)
    assert run.status == "no measurement" and "sci_report.json unreadable (UnicodeDecodeError" in run.reason
    run = read_run(with_energy)  # counted from energy.json; the unreadable report named with its path
    assert run.source == "energy.json" and run.energy_kwh == pytest.approx(1e-4)
    assert "sci_report.json unreadable (UnicodeDecodeError" in run.reason
    assert f"at {with_energy / 'sci_report.json'}" in run.reason
