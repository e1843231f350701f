"""SCI for AI: PFLOP / billion-parameter functional units, accelerator embodied emissions,
disclosures, in sci_report.json, sci_report.md and impact.yml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sci_lightning.energy.base import EnergyInterval
from sci_lightning.errors import ConfigError
from sci_lightning.sci.compute import FUNCTIONAL_UNITS, SECONDS_PER_YEAR, compute_sci
from sci_lightning.sci.embodied import accelerator_embodied, accelerator_names
from sci_lightning.sci.schema import load_schema, validate
from sci_lightning.sci.work import WorkCounts
from sci_lightning.sci.writer import write_run_report
from sci_lightning.settings import FUNCTIONAL_UNITS as SETTING_UNITS
from sci_lightning.settings import SciConfig, coerce
from tests.sci.test_compute import KWH, at, energy_result, series
from tests.sci.test_report import _evaluate_manifest

PRESET = Path(__file__).resolve().parents[2] / "conf" / "sci" / "sci_for_ai.yaml"
WORK = WorkCounts(
    train_flops=3e15,
    val_flops=1e15,
    extraction_flops=0.0,
    parameters_gross=2_000_000_000,
    parameters_effective=500_000_000,
    images_seen=2000,
    methods={"train_flops": "test"},
)


def _run(settings=None, work=WORK):
    tl = [EnergyInterval(at(0), at(30), 0.5 * KWH), EnergyInterval(at(30), at(60), 1.5 * KWH)]
    energy = energy_result(tl, epochs=2, images=2000)
    return compute_sci(energy, series((at(-60), at(120), 400.0)), settings or SciConfig(), work=work), energy


def test_units_are_the_same_in_settings_and_compute():
    assert FUNCTIONAL_UNITS is SETTING_UNITS  # one home: settings, read by sci.compute


def test_per_pflop_and_per_billion_parameters():
    res, _ = _run(SciConfig(functional_unit="pflop"))
    assert res.carbon_g == pytest.approx(800.0)
    assert res.r_counts["pflop"] == pytest.approx(4.0) and res.r_counts[
        "billion_parameters"
    ] == pytest.approx(2.0)
    assert res.sci == pytest.approx(200.0) and res.sci_unit == "gCO2e/PFLOP"
    assert res.sci_per["billion_parameters"] == pytest.approx(400.0)
    assert res.sci_per["1000_images"] == pytest.approx(400.0) and res.sci_per["epoch"] == pytest.approx(400.0)


def test_without_work_the_ai_units_are_absent_and_a_headline_falls_back():
    res, _ = _run(SciConfig(functional_unit="pflop"), work=None)
    assert "pflop" not in res.sci_per and res.functional_unit == "job"
    assert any("WorkCounter" in n for n in res.notes)


def test_accelerator_table_rows_all_cite_a_source():
    for name in accelerator_names():
        row = accelerator_embodied(name)
        assert row.te_kg_per_unit > 0 and row.source and row.year >= 2000 and row.kind


def test_accelerator_te_times_tor_and_source_in_report(tmp_path):
    sci = SciConfig(
        accelerator="nvidia_a100", lifespan_years=4.0, resources_reserved=1.0, resources_total=8.0
    )
    res, energy = _run(sci)
    row = accelerator_embodied("nvidia_a100")
    expected = row.te_kg_per_unit * 8 * 1000 * (3600 / (4 * SECONDS_PER_YEAR)) / 8
    assert res.embodied_g == pytest.approx(expected)
    assert "HotCarbon" in res.embodied.source
    report = write_run_report(tmp_path, res, energy, {"model": "m"})
    assert "HotCarbon" in report.embodied.source
    assert "HotCarbon" in (tmp_path / "sci_report.md").read_text()


def test_user_te_wins_over_the_table():
    sci = SciConfig(
        accelerator="nvidia_a100", embodied_total_kg=100.0, lifespan_years=4.0, embodied_source="PCF"
    )
    res, _ = _run(sci)
    assert res.embodied.te_kg == 100.0 and res.embodied.source == "PCF"


def test_unknown_accelerator_and_missing_lifespan_are_refused():
    with pytest.raises(ConfigError, match="sci.accelerator"):
        _run(SciConfig(accelerator="no_such_gpu", lifespan_years=4.0))
    with pytest.raises(ConfigError, match="lifespan_years"):
        coerce(SciConfig, {"accelerator": "nvidia_a100"}, "sci")


def test_preset_loads_with_embodied_and_disclosures():
    cfg = coerce(SciConfig, yaml.safe_load(PRESET.read_text()), "sci")
    assert cfg.embodied_in_scope and cfg.accelerator in accelerator_names() and cfg.disclosures
    assert cfg.functional_unit == "pflop"


def test_all_units_in_json_markdown_and_manifest(tmp_path):
    sci = coerce(SciConfig, yaml.safe_load(PRESET.read_text()), "sci")
    res, energy = _run(sci)
    write_run_report(tmp_path, res, energy, {"model": "m"})
    data = json.loads((tmp_path / "sci_report.json").read_text())
    assert validate(data, load_schema()) == []
    assert set(data["sci_per"]) == set(FUNCTIONAL_UNITS) - {"1000_tokens"}  # image inputs: no tokens
    assert data["work"]["total_flops"] == pytest.approx(4e15)
    assert data["work"]["parameters_effective"] == 500_000_000
    assert data["disclosures"] == sci.disclosures and data["sci"]["unit"] == "gCO2e/PFLOP"
    md = (tmp_path / "sci_report.md").read_text()
    assert "per PFLOP" in md and "per billion parameters" in md and "## Disclosures" in md
    assert "## Work done (SCI for AI)" in md
    manifest = yaml.safe_load((tmp_path / "impact.yml").read_text())
    totals = _evaluate_manifest(manifest)
    assert totals["sci"] == pytest.approx(res.sci, rel=1e-9)
    assert totals["sci-per-petaflop"] == pytest.approx(res.sci_per["pflop"], rel=1e-9)
    assert totals["sci-per-billion-parameters"] == pytest.approx(res.sci_per["billion_parameters"], rel=1e-9)


def test_per_token_unit_for_sequence_data():
    from dataclasses import replace

    tokens = replace(WORK, tokens_seen=500_000)
    res, _ = _run(SciConfig(functional_unit="1000_tokens"), work=tokens)
    assert res.r_counts["1000_tokens"] == pytest.approx(500.0)
    assert res.sci == pytest.approx(800.0 / 500.0) and res.sci_unit == "gCO2e/1000 tokens"
    images_only, _ = _run(SciConfig(functional_unit="1000_tokens"))  # image inputs: no tokens counted
    assert images_only.functional_unit == "job" and "1000_tokens" not in images_only.r_counts
    assert any("no tokens were counted" in n for n in images_only.notes)


def test_work_counter_counts_tokens_of_integer_sequence_inputs():
    import torch

    from sci_lightning.lightning.work_counter import _batch_tokens

    assert _batch_tokens((torch.randint(0, 100, (4, 16)), torch.zeros(4))) == 64
    assert _batch_tokens((torch.randn(4, 3, 8, 8), torch.zeros(4))) == 0


def test_markdown_has_the_disclosure_table_and_rationale(tmp_path):
    from sci_lightning.sci.inference import inference_sci

    sci = SciConfig(
        functional_unit="pflop", functional_unit_rationale="compute efficiency of the architectures"
    )
    res, energy = _run(sci)
    fig = inference_sci(
        energy_kwh=0.001, duration_s=10.0, samples=2000, intensity_g_per_kwh=400.0, stage="test"
    )
    write_run_report(tmp_path, res, energy, {"model": "m", "inference": [fig]})
    md = (tmp_path / "sci_report.md").read_text()
    assert "## SCI for AI disclosure" in md and "Rationale for the unit: compute efficiency" in md
    table = md.split("## SCI for AI disclosure")[1]
    for section in ("7.1", "7.2", "7.3", "7.5", "8.2", "8.2.2", "6.1, 7.4, 8.1"):
        assert f"| {section} |" in table, section
    assert "out of scope" in table and "preparation.json" in table and "gross" in table
    assert "## Inference (Consumer SCI)" in md and "| test | 2000 |" in md
    assert "test: 0.2 gCO2e/1000 inferences" in table  # 0.001 kWh x 400 g/kWh / 2000 x 1000
    data = json.loads((tmp_path / "sci_report.json").read_text())
    assert data["functional_unit_rationale"] == "compute efficiency of the architectures"
    assert validate(data, load_schema()) == []
