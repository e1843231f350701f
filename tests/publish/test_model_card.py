"""The Hugging Face model card (sci_lightning.publish.model_card): ``co2_eq_emissions`` in grams, read
back by ``huggingface_hub.ModelCard``, the activities table and how each figure was obtained."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from published_runs import write_run

from sci_lightning.publish import bom_document, check_bom, co2_eq_emissions, publish, run_activities
from sci_lightning.publish.model_card import check_model_card, model_card_text

huggingface_hub = pytest.importorskip("huggingface_hub")


def test_model_card_round_trips_through_huggingface_hub(tmp_path):
    run, report = write_run(tmp_path)
    [done] = publish(run, tmp_path / "out", check=True)
    card = huggingface_hub.ModelCard.load(str(tmp_path / "out" / "README.md"))
    co2 = card.data.to_dict()["co2_eq_emissions"]
    assert co2 == co2_eq_emissions(run_activities(run))
    # by hand, grams: IT energy 0.020 + 0.021 kWh in the 10:00 hour (300 g/kWh) and 0.022 + 0.023
    # + 0.024 + 0.025 kWh in the 11:00 hour (400 g/kWh), x PUE 1.2: (12.3 + 37.6) x 1.2 = 59.88 g;
    # M = 2,500 kg x 1/8 of the server x 3600 s / (4 x 365 x 86,400 s) = 8.918379 g
    assert co2["emissions"] == pytest.approx(59.88 + 2.5e6 / 8 * 3600 / 126_144_000, rel=1e-6)
    assert co2["emissions"] == pytest.approx(report.carbon_g, rel=1e-6)  # grams, E x I + M
    assert co2["geographical_location"] == "DE" and co2["training_type"] == "pre-training"
    assert set(co2) == {"emissions", "source", "training_type", "geographical_location", "hardware_used"}
    assert "measured" in co2["source"] and "electricity_maps" in co2["source"]
    text = card.text
    assert "| training |" in text and "| inference |" in text and "reused cache, amortised" in text
    assert "How each figure was obtained" in text and "estimated" in text
    assert any("huggingface_hub" in c for c in done.checks) and any("cyclonedx" in c for c in done.checks)


def test_no_intensity_means_no_emissions_figure_not_zero(tmp_path):
    run, _ = write_run(tmp_path, inference=False, preparation=False)
    data = json.loads((run / "sci_report.json").read_text())
    data["operational_g"] = None  # a report whose intensity was unavailable
    (run / "sci_report.json").write_text(json.dumps(data))
    docs = run_activities(run)
    assert co2_eq_emissions(docs) is None
    text = model_card_text(docs)
    assert "co2_eq_emissions:" not in text and "| training | training job |" in text
    assert "valid" in check_bom(json.dumps(bom_document(docs)))


def test_check_model_card_refuses_a_changed_figure(tmp_path):
    run, _ = write_run(tmp_path, inference=False, preparation=False)
    docs = run_activities(run)
    expected = co2_eq_emissions(docs)
    text = model_card_text(docs)
    assert (
        check_model_card(text, expected) == "huggingface_hub.ModelCard: co2_eq_emissions read back unchanged"
    )
    wrong = {**expected, "emissions": expected["emissions"] + 1}
    with pytest.raises(ValueError, match="the model card's co2_eq_emissions read back as .* expected"):
        check_model_card(text, wrong)


def test_the_table_marks_shared_energy_and_the_front_matter_is_yaml(tmp_path):
    import yaml

    run, report = write_run(tmp_path)
    docs = run_activities(run)
    prep = replace(docs.activities[-1], amortised=False, within_training=True)
    text = model_card_text(replace(docs, activities=[*docs.activities[:-1], prep]))
    front = yaml.safe_load(text.split("---\n")[1])
    assert front["library_name"] == "timm" and front["tags"][-1] == "co2_eq_emissions"
    assert text.startswith("---\n") and "\n---\n\n# densenet121 (run-7)\n" in text
    assert "| data-preparation (inside training) | decode_cache |" in text
    assert f"Software Carbon Intensity (GSF SCI): {report.sci.value:.4g} {report.sci.unit}." in text
    assert "Top-1 validation accuracy: 0.41." in text


def test_secrets_given_are_redacted_from_the_figures_metadata(tmp_path):
    run, _ = write_run(tmp_path, inference=False, preparation=False)
    co2 = co2_eq_emissions(run_activities(run), secrets=["electricity_maps"])
    assert "electricity_maps" not in co2["source"] and "[redacted]" in co2["source"]
