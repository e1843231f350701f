"""The SPDX 3.0.1 AI package (sci_lightning.publish.spdx): no validator offline, so the JSON-LD is checked
field by field against the SPDX 3.0.1 model (the AI profile's required fields and energy classes)."""

from __future__ import annotations

import json

import pytest
from published_runs import WORK, graph_package, write_run

from sci_lightning.publish import publish, run_activities, spdx_document
from sci_lightning.publish.spdx import decimal_text


def test_spdx_ai_package_has_the_required_fields_and_energy(tmp_path):
    run, report = write_run(tmp_path)
    publish(run, tmp_path / "out", check=True)
    doc = json.loads((tmp_path / "out" / "model.spdx3.json").read_text())
    assert doc["@context"] == "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"
    by_type = {e["type"]: e for e in doc["@graph"]}
    creation = by_type["CreationInfo"]
    assert creation["specVersion"] == "3.0.1" and creation["created"].endswith("Z") and creation["createdBy"]
    pkg = by_type["ai_AIPackage"]
    ids = {e.get("spdxId") for e in doc["@graph"]}
    for required in (
        "spdxId",
        "creationInfo",
        "suppliedBy",
        "releaseTime",
        "software_packageVersion",
        "software_downloadLocation",
        "software_primaryPurpose",
    ):
        assert pkg.get(required), required
    assert pkg["suppliedBy"] in ids and pkg["software_primaryPurpose"] == "model"
    energy = pkg["ai_energyConsumption"]
    assert energy["type"] == "ai_EnergyConsumption"
    [train] = energy["ai_trainingEnergyConsumption"]
    assert train["type"] == "ai_EnergyConsumptionDescription" and train["ai_energyUnit"] == "kilowattHour"
    assert float(train["ai_energyQuantity"]) == pytest.approx(report.energy_kwh.total, rel=1e-9)
    [infer] = energy["ai_inferenceEnergyConsumption"]
    assert float(infer["ai_energyQuantity"]) == pytest.approx(0.002)
    assert (
        "data-preparation" in pkg["ai_informationAboutTraining"]
        and "Method:" in pkg["ai_informationAboutTraining"]
    )
    spdx_doc = by_type["SpdxDocument"]
    assert spdx_doc["rootElement"] == [pkg["spdxId"]] and "ai" in spdx_doc["profileConformance"]


def test_decimal_text_has_no_exponent():
    assert (
        decimal_text(1.5e-7) == "0.00000015"
        and decimal_text(2500000.0) == "2500000"
        and decimal_text(0.0) == "0"
    )


@pytest.mark.parametrize(
    "x, text",
    [(0.135, "0.135"), (1e-13, "0"), (-1e-13, "0"), (-2.5, "-2.5"), (1.0, "1"), (1e-12, "0.000000000001")],
)
def test_decimal_text_edge_cases(x, text):
    assert decimal_text(x) == text


def test_estimated_energy_is_not_called_measured_in_spdx(tmp_path):
    run, _ = write_run(tmp_path, inference=False, preparation=False)
    data = json.loads((run / "sci_report.json").read_text())
    data["quality"]["energy"] = "estimated"  # e.g. a CPU-only run: CPU-time x TDP estimate
    (run / "sci_report.json").write_text(json.dumps(data))
    publish(run, tmp_path / "out", check=False)
    comment = graph_package(tmp_path / "out" / "model.spdx3.json")["comment"]
    assert "measured by" not in comment and "training energy is estimated" in comment


def test_fine_tuning_slot_download_location_and_the_graph(tmp_path):
    run, report = write_run(tmp_path, work=WORK, inference=False, preparation=False)
    doc = spdx_document(run_activities(run), download_location="https://example.org/model.safetensors")
    creation, agent, pkg, spdx_doc = doc["@graph"]
    assert [e["type"] for e in doc["@graph"]] == [
        "CreationInfo",
        "SoftwareAgent",
        "ai_AIPackage",
        "SpdxDocument",
    ]
    assert pkg["software_downloadLocation"] == "https://example.org/model.safetensors"
    assert list(pkg["ai_energyConsumption"]) == ["type", "ai_finetuningEnergyConsumption"]
    assert creation["@id"] == pkg["creationInfo"] == agent["creationInfo"] == "_:creationinfo"
    assert spdx_doc["element"] == [agent["spdxId"], pkg["spdxId"]] and pkg["suppliedBy"] == agent["spdxId"]
    assert pkg["releaseTime"].endswith("Z") and len(pkg["releaseTime"]) == len("2024-03-01T11:40:00Z")
    assert "Inference energy: not measured for this run." in pkg["ai_informationAboutTraining"]
    assert pkg["software_packageVersion"] == "run-7"
    default = spdx_document(run_activities(run))
    assert default["@graph"][2]["software_downloadLocation"] == run.resolve().as_uri()
