"""The CycloneDX 1.6 ML-BOM (sci_lightning.publish.cyclonedx), checked by cyclonedx-python-lib's strict
1.6 JSON validator: the model component, its energy consumptions (facility kWh, tCO2eq) per activity."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from published_runs import WORK, write_run

from sci_lightning.publish import bom_document, check_bom, publish, run_activities
from sci_lightning.publish.cyclonedx import document_uuid

pytest.importorskip("cyclonedx.validation.json")


def _uses(bom: dict) -> list[dict]:
    return bom["components"][0]["modelCard"]["considerations"]["environmentalConsiderations"][
        "energyConsumptions"
    ]


def test_cyclonedx_bom_passes_strict_1_6_validation(tmp_path):
    run, report = write_run(tmp_path)
    publish(run, tmp_path / "out", check=True)
    text = (tmp_path / "out" / "bom.cdx.json").read_text()
    assert "valid" in check_bom(text)
    bom = json.loads(text)
    assert bom["specVersion"] == "1.6"
    [model] = bom["components"]
    assert model["type"] == "machine-learning-model"
    uses = model["modelCard"]["considerations"]["environmentalConsiderations"]["energyConsumptions"]
    assert [u["activity"] for u in uses] == ["training", "inference", "data-preparation"]
    training = uses[0]
    assert training["activityEnergyCost"] == {"value": pytest.approx(report.energy_kwh.total), "unit": "kWh"}
    assert training["co2CostEquivalent"]["unit"] == "tCO2eq"
    assert training["co2CostEquivalent"]["value"] == pytest.approx(report.operational_g / 1e6)
    assert training["co2CostEquivalent"]["value"] == pytest.approx(59.88e-6, rel=1e-9)  # 59.88 g in tonnes
    assert training["activityEnergyCost"]["value"] == pytest.approx(0.135 * 1.2, rel=1e-9)  # facility kWh
    assert training["energyProviders"][0]["energyProvided"]["value"] == pytest.approx(report.energy_kwh.total)
    props = {p["name"]: p["value"] for p in uses[2]["properties"]}
    assert "estimated" in props["sci-lightning:method"] and "sci-lightning:amortised" in props


def test_invalid_bom_is_rejected_by_the_validator(tmp_path):
    run, _ = write_run(tmp_path)
    bom = bom_document(run_activities(run))
    uses = bom["components"][0]["modelCard"]["considerations"]["environmentalConsiderations"][
        "energyConsumptions"
    ]
    uses[0]["activity"] = "data-cleaning"  # not one of CycloneDX's activities
    with pytest.raises(ValueError, match="validation failed"):
        check_bom(json.dumps(bom))


def test_document_ids_are_stable_per_run_and_kind(tmp_path):
    run, _ = write_run(tmp_path, inference=False, preparation=False)
    docs = run_activities(run)
    assert document_uuid(docs, "cyclonedx") == document_uuid(run_activities(run), "cyclonedx")
    assert document_uuid(docs, "cyclonedx") != document_uuid(docs, "spdx")
    assert document_uuid(docs, "cyclonedx").version == 5
    assert bom_document(docs)["serialNumber"] == f"urn:uuid:{document_uuid(docs, 'cyclonedx')}"


def test_unmeasured_activities_shared_energy_and_fine_tuning(tmp_path):
    run, _ = write_run(tmp_path, work=WORK)
    docs = run_activities(run)
    unmeasured = replace(docs.activities[1], energy_kwh=None)
    inside = replace(docs.activities[2], amortised=False, within_training=True)
    bom = bom_document(replace(docs, activities=[docs.activities[0], unmeasured, inside]))
    assert "valid" in check_bom(json.dumps(bom))
    uses = _uses(bom)
    assert [u["activity"] for u in uses] == ["fine-tuning", "data-preparation"]
    props = bom["components"][0]["modelCard"]["considerations"]["environmentalConsiderations"]["properties"]
    assert {"name": "sci-lightning:not_measured", "value": "inference (predict)"} in props
    assert {p["name"] for p in uses[1]["properties"]} == {
        "sci-lightning:part",
        "sci-lightning:method",
        "sci-lightning:embodied_g",
        "sci-lightning:included_in",
    }
    assert bom["components"][0]["description"].startswith(
        "Image classifier trained with sci-lightning (fine-tuning, "
    )


def test_check_bom_names_where_it_failed(tmp_path):
    run, _ = write_run(tmp_path, inference=False, preparation=False)
    bom = bom_document(run_activities(run))
    bom["components"][0]["type"] = "robot"
    with pytest.raises(ValueError) as err:
        check_bom(json.dumps(bom))
    message = str(err.value)
    assert (
        message.startswith("CycloneDX 1.6 validation failed at 'components/0/type': 'robot' is not one of ")
        and "\n" not in message
    )
