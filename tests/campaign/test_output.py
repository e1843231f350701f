"""Writing a campaign (sci_lightning.campaign.output): campaign.json, the campaign.md disclosure and the
campaign_impact.yml manifest, checked by hand on a campaign built here (four runs: counted, resumed
elsewhere, half counted with an estimate, nothing measured; one data-preparation build) and on the
real runs of tests/campaign/conftest.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from sci_lightning.campaign import build_campaign, write_campaign
from sci_lightning.campaign.output import campaign_dict, campaign_manifest, campaign_markdown
from sci_lightning.campaign.rollup import Campaign, CampaignPreparation, CampaignRun
from sci_lightning.sci.preparation import PreparationFigures

IF_RUN = os.environ.get("IF_RUN") or shutil.which("if-run")
T0 = datetime(2026, 12, 1, 9, tzinfo=timezone.utc)


def _campaign() -> Campaign:
    """By hand: E = 1.0 + 0.5 x 0.25 + 0.1 (build) = 1.225 kWh; E x I = 200 + 25 + 20 = 245 g; M = 10 g."""
    final = CampaignRun(
        Path("/runs/final"),
        "final",
        "completed",
        "sci_report.json",
        "tiny_mlp",
        started_at=T0,
        energy_kwh=1.0,
        operational_g=200.0,
        embodied_g=10.0,
        cost_usd=1.0,
        duration_s=3600.0,
        parts=[{"started_at": "a"}, {"started_at": "b"}],
        share=210 / 255,
    )
    resumed = CampaignRun(
        Path("/runs/part 1"),
        "part 1",
        "interrupted",
        "sci_report.json",
        "tiny_mlp",
        energy_kwh=0.5,
        operational_g=150.0,
        embodied_g=5.0,
        counted_fraction=0.0,
        included_in=["final"],
    )
    half = CampaignRun(
        Path("/runs/oom"),
        "job 7/oom",
        "failed",
        "energy.json",
        "tiny_mlp",
        energy_kwh=0.25,
        operational_g=50.0,
        duration_s=600.0,
        counted_fraction=0.5,
        included_in=["final"],
        estimated=["operational_g"],
        reason="CUDA out of memory | retry",
        share=25 / 255,
    )
    empty = CampaignRun(Path("/runs/empty"), "empty", "no measurement", "none", reason="disk full")
    build = PreparationFigures(
        activity="decode_cache",
        build_id="b1",
        energy_kwh=0.1,
        it_energy_kwh=0.1,
        duration_s=0.2,
        items=1000,
        started_at=T0,
    )
    prep = CampaignPreparation("final", build, True, "counted", 20.0)
    reused = CampaignPreparation("part 1", build, False, "amortised: counted in final", 20.0)
    return Campaign(
        runs=[final, resumed, half, empty],
        final=final,
        functional_unit="job",
        r_counts={"job": 1.0, "epoch": 5.0},
        energy_kwh=1.225,
        operational_g=245.0,
        embodied_g=10.0,
        cost_usd=1.5,
        duration_s=4200.0,
        wall_s=5000.0,
        unmeasured_s=30.0,
        sci_per={"job": 255.0, "epoch": 51.0},
        notes=["a note"],
        generated_at=T0,
        preparation=[prep, reused],
    )


def test_campaign_dict_by_hand():
    data = campaign_dict(_campaign())
    assert data["sci"] == {"value": 255.0, "unit": "gCO2e/job"} and data["sci_per"] == {
        "job": 255.0,
        "epoch": 51.0,
    }
    assert data["final"] == {
        "name": "final",
        "path": "/runs/final",
        "model": "tiny_mlp",
        "parameters_gross": None,
        "parameters_effective": None,
        "parameters_trainable": None,
    }
    assert data["carbon_g"] == 255.0 and data["intensity_g_per_kwh"] == pytest.approx(245 / 1.225)
    assert data["runs_by_status"] == {"completed": 1, "failed": 1, "interrupted": 1, "no measurement": 1}
    half = data["runs"][2]
    assert half["own"]["energy_kwh"] == 0.25 and half["counted"]["energy_kwh"] == 0.125
    assert half["counted"]["carbon_g"] == 25.0 and half["estimated"] == ["operational_g"]
    assert data["runs"][0]["resumed"] is True and data["runs"][0]["parts"] == 2
    assert data["runs"][3]["counted"]["energy_kwh"] == 0.0  # nothing measured: nothing counted
    assert data["preparation"]["energy_kwh"] == 0.1 and data["preparation"]["operational_g"] == 20.0
    assert [p["why"] for p in data["preparation"]["activities"]] == ["counted", "amortised: counted in final"]
    assert data["generated_at"] == "2026-12-01T09:00:00+00:00" and data["disclosures"] == []
    json.dumps(data, allow_nan=False)


def test_the_markdown_disclosure_by_hand():
    md = campaign_markdown(_campaign())
    assert "**SCI = 255 gCO2e/job** (final model: final, tiny_mlp)" in md
    assert "| E, energy (IT x PUE) | 1.225 kWh, of which data preparation 0.1 kWh |" in md
    assert "| Runs | 4 found, 2 counted; 1 completed, 1 failed, 1 interrupted, 1 no measurement |" in md
    assert "- per epoch: 51 gCO2e/epoch (R = 5)" in md
    assert "| part 1 | tiny_mlp | interrupted | - | sci_report.json | 0 | 0 | 0.0% | counted in final |" in md
    assert (
        "| job 7/oom | tiny_mlp | failed | - | energy.json | 0.125 | 25 | 9.8% | 50.0% counted (rest in final); "
        "emissions estimated; CUDA out of memory \\| retry |"
    ) in md
    assert (
        "| final | 1 x decode_cache | 1000 |" not in md
        and "| final | decode_cache | 1000 | 0.1 | n/a | counted | 20 |" in md
    )
    assert "- checkpoint and resume (interrupted work is resumed, not repeated)" in md
    assert (
        "one training job of the final model" in md and "not given (set sci.functional_unit_rationale)" in md
    )
    assert "30 s of wall time after killed parts" in md and "- a note" in md
    assert md.rstrip().endswith("recomputes the campaign's carbon and SCI (`aggregated.sci`).")


def test_the_manifest_recomputes_the_total_by_hand():
    m = campaign_manifest(_campaign())
    children = m["tree"]["children"]
    assert list(children) == ["final", "job-7-oom", "prep-1-decode_cache"]  # counted runs, safe names
    obs = {name: ch["inputs"][0] for name, ch in children.items()}
    assert obs["job-7-oom"] == {
        "timestamp": "2026-12-01T09:00:00.000Z",  # no start recorded: the campaign's time
        "duration": 300.0,
        "energy": 0.125,
        "grid/carbon-intensity": 200.0,
        "carbon-embodied": 0.0,
    }
    assert obs["prep-1-decode_cache"]["duration"] == 1.0  # at least one second for the Sci builtin
    total = sum(o["energy"] * o["grid/carbon-intensity"] + o["carbon-embodied"] for o in obs.values())
    assert total == pytest.approx(255.0)
    assert children["final"]["defaults"] == {"jobs": 1.0, "epochs": 5.0}
    plugins = m["initialize"]["plugins"]
    assert children["final"]["pipeline"]["compute"] == [
        "operational-carbon",
        "total-carbon",
        "sci",
        "sci-per-job",
        "sci-per-epoch",
    ]
    assert m["aggregation"]["metrics"][-2:] == ["sci-per-job", "sci-per-epoch"]
    assert plugins["sci-per-epoch"]["method"] == "Divide"
    assert "Expected aggregated sci = 255.0 gCO2e/job" in m["description"]


def test_write_campaign_is_redacted(tmp_path, monkeypatch):
    secret = "wt-Campaign-Secret-31337"
    monkeypatch.setenv("WATTTIME_PASSWORD", secret)
    c = _campaign()
    c.runs[2].reason = f"401 for password {secret}"
    c.notes.append(f"a provider said: bad password {secret}")  # notes are written as they are
    written = write_campaign(c, tmp_path / "out")
    assert sorted(written) == ["campaign.json", "campaign.md", "campaign_impact.yml"]
    for path in written.values():
        text = path.read_text()
        assert secret not in text, path.name
    assert "[redacted]" in (tmp_path / "out" / "campaign.md").read_text()
    manifest = (tmp_path / "out" / "campaign_impact.yml").read_text()
    assert manifest.startswith("# GSF Impact Framework manifest written by sci-lightning. Recompute with:\n")
    assert yaml.safe_load(manifest)["name"] == "sci-lightning campaign"


def test_campaign_files_and_disclosure(campaign_dir, tmp_path):
    c = build_campaign([campaign_dir])
    written = write_campaign(c, tmp_path)
    assert sorted(written) == ["campaign.json", "campaign.md", "campaign_impact.yml"]
    data = json.loads((tmp_path / "campaign.json").read_text())
    assert data["carbon_g"] == pytest.approx(c.carbon_g) and data["runs_total"] == 5
    assert data["runs_by_status"] == {"completed": 1, "failed": 2, "interrupted": 1, "no measurement": 1}
    md = (tmp_path / "campaign.md").read_text()
    for words in (
        "Provider boundary",
        "## Functional unit",
        "gross",
        "effective",
        "## Strategies used",
        "Inside:",
        "Outside:",
        "counted in c_resumed",
        "no measurement",
        "emissions estimated",
    ):
        assert words in md, words
    manifest = yaml.safe_load((tmp_path / "campaign_impact.yml").read_text())
    children = manifest["tree"]["children"]
    assert sorted(children) == ["a_failed", "c_resumed", "d_failed_no_report"]  # b_part1 counts 0
    total = sum(
        o["energy"] * o["grid/carbon-intensity"] + o["carbon-embodied"]
        for ch in children.values()
        for o in ch["inputs"]
    )
    assert total == pytest.approx(c.carbon_g)


@pytest.mark.skipif(
    not IF_RUN or not os.path.exists(IF_RUN),
    reason="if-run not found (set IF_RUN or put @grnsft/if's if-run on PATH)",
)
def test_if_run_reproduces_the_campaign_sci(campaign_dir, tmp_path):
    c = build_campaign([campaign_dir])
    write_campaign(c, tmp_path)
    proc = subprocess.run(
        [IF_RUN, "--manifest", str(tmp_path / "campaign_impact.yml"), "--output", str(tmp_path / "if-out")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    computed = yaml.safe_load(next(tmp_path.glob("if-out*")).read_text())
    assert computed["execution"]["status"] == "success"
    agg = computed["tree"]["aggregated"]
    assert agg["sci"] == pytest.approx(c.sci, rel=1e-6)
    assert agg["carbon"] == pytest.approx(c.carbon_g, rel=1e-6)
    assert agg["carbon-embodied"] == pytest.approx(c.embodied_g, rel=1e-6)
    assert agg["energy"] == pytest.approx(c.energy_kwh, rel=1e-6)
    for unit, value in c.sci_per.items():
        key = {
            "job": "sci-per-job",
            "epoch": "sci-per-epoch",
            "1000_images": "sci-per-thousand-images",
            "pflop": "sci-per-petaflop",
            "billion_parameters": "sci-per-billion-parameters",
        }[unit]
        assert agg[key] == pytest.approx(value, rel=1e-6)
