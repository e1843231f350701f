"""Publishing: the model card, CycloneDX 1.6 ML-BOM and SPDX 3.0.1 AI package from a run's report.

Checked with the ecosystems' own tools: the model card read back by
``huggingface_hub.ModelCard.load``, the BOM by cyclonedx-python-lib's strict 1.6 JSON
validator; the SPDX document (no validator offline) field by field against SPDX 3.0.1.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest

from sci_lightning.publish import bom_document, check_bom, co2_eq_emissions, publish, run_activities
from sci_lightning.publish.spdx import decimal_text
from sci_lightning.sci.inference import inference_sci
from sci_lightning.sci.preparation import PreparationFigures, write_preparation
from sci_lightning.sci.work import WorkCounts
from sci_lightning.sci.writer import write_run_report
from tests.sci.test_report import META, make_run

huggingface_hub = pytest.importorskip("huggingface_hub")
pytest.importorskip("cyclonedx.validation.json")

WORK = WorkCounts(
    train_flops=3e15,
    parameters_gross=8_000_000,
    parameters_effective=8_000_000,
    parameters_trainable=200_000,
    images_seen=9600,
)


def _write_run(tmp_path, *, inference=True, preparation=True, work=None):
    result, energy = make_run(embodied=True)
    if work is not None:
        result = replace(result, work=work)
    meta = dict(META)
    if inference:
        e = result.embodied
        meta["inference"] = [
            inference_sci(
                energy_kwh=0.002,
                duration_s=40.0,
                samples=10_000,
                intensity_g_per_kwh=result.mean_intensity_g_per_kwh,
                stage="predict",
                te_kg=e.te_kg,
                el_years=e.el_years,
                rr=e.rr,
                tor=e.tor,
                quality="measured",
                method="gpu: nvml_energy_counter",
            )
        ]
    run = tmp_path / "run"
    report = write_run_report(run, result, energy, meta)
    if preparation:
        write_preparation(
            run,
            [
                PreparationFigures(
                    activity="decode_cache",
                    build_id="b1",
                    energy_kwh=0.004,
                    it_energy_kwh=0.004,
                    duration_s=12.0,
                    items=1000,
                    quality="estimated",
                    method="cpu: cpu_time_tdp_estimate",
                    reused=True,
                )
            ],
        )
    return run, report


def test_model_card_round_trips_through_huggingface_hub(tmp_path):
    run, report = _write_run(tmp_path)
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


def test_fine_tuning_when_only_part_of_the_model_was_trained(tmp_path):
    run, _ = _write_run(tmp_path, work=WORK)
    assert co2_eq_emissions(run_activities(run))["training_type"] == "fine-tuning"
    publish(run, tmp_path / "out", check=True)  # the BOM still passes strict 1.6 validation
    bom = json.loads((tmp_path / "out" / "bom.cdx.json").read_text())
    uses = bom["components"][0]["modelCard"]["considerations"]["environmentalConsiderations"][
        "energyConsumptions"
    ]
    assert [u["activity"] for u in uses] == ["fine-tuning", "inference", "data-preparation"]
    pkg = _graph_package(tmp_path / "out" / "model.spdx3.json")
    assert "ai_finetuningEnergyConsumption" in pkg["ai_energyConsumption"]


def test_cyclonedx_bom_passes_strict_1_6_validation(tmp_path):
    run, report = _write_run(tmp_path)
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
    run, _ = _write_run(tmp_path)
    bom = bom_document(run_activities(run))
    uses = bom["components"][0]["modelCard"]["considerations"]["environmentalConsiderations"][
        "energyConsumptions"
    ]
    uses[0]["activity"] = "data-cleaning"  # not one of CycloneDX's activities
    with pytest.raises(ValueError, match="validation failed"):
        check_bom(json.dumps(bom))


def test_spdx_ai_package_has_the_required_fields_and_energy(tmp_path):
    run, report = _write_run(tmp_path)
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


def test_without_inference_the_documents_say_not_measured(tmp_path):
    run, _ = _write_run(tmp_path, inference=False, preparation=False)
    publish(run, tmp_path / "out", check=True)
    assert "Inference energy: not measured" in (tmp_path / "out" / "README.md").read_text()
    doc = json.loads((tmp_path / "out" / "model.spdx3.json").read_text())
    pkg = next(e for e in doc["@graph"] if e["type"] == "ai_AIPackage")
    assert "ai_inferenceEnergyConsumption" not in pkg["ai_energyConsumption"]


@pytest.mark.slow
def test_cli_on_a_sweep_writes_one_folder_per_run(tmp_path):
    sweep = tmp_path / "sweep"
    for name in ("0", "1"):
        result, energy = make_run()
        write_run_report(sweep / name, result, energy, {**META, "run_name": f"model-{name}"})
    (sweep / "multirun.yaml").write_text("hydra: {}\n")
    out = tmp_path / "pub"
    proc = subprocess.run(
        [sys.executable, "-m", "sci_lightning.publish", str(sweep), "--out", str(out), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    for name in ("0", "1"):
        assert {p.name for p in (out / name).iterdir()} == {"README.md", "bom.cdx.json", "model.spdx3.json"}
    bad = subprocess.run(
        [sys.executable, "-m", "sci_lightning.publish", str(tmp_path / "empty")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error:") and "Traceback" not in bad.stderr


def test_no_intensity_means_no_emissions_figure_not_zero(tmp_path):
    from sci_lightning.publish import model_card_text

    run, _ = _write_run(tmp_path, inference=False, preparation=False)
    data = json.loads((run / "sci_report.json").read_text())
    data["operational_g"] = None  # a report whose intensity was unavailable
    (run / "sci_report.json").write_text(json.dumps(data))
    docs = run_activities(run)
    assert co2_eq_emissions(docs) is None
    text = model_card_text(docs)
    assert "co2_eq_emissions:" not in text and "| training | training job |" in text
    assert "valid" in check_bom(json.dumps(bom_document(docs)))


def _graph_package(path):
    doc = json.loads(path.read_text())
    return next(e for e in doc["@graph"] if e["type"] == "ai_AIPackage")


def test_estimated_energy_is_not_called_measured_in_spdx(tmp_path):
    run, _ = _write_run(tmp_path, inference=False, preparation=False)
    data = json.loads((run / "sci_report.json").read_text())
    data["quality"]["energy"] = "estimated"  # e.g. a CPU-only run: CPU-time x TDP estimate
    (run / "sci_report.json").write_text(json.dumps(data))
    publish(run, tmp_path / "out", check=False)
    comment = _graph_package(tmp_path / "out" / "model.spdx3.json")["comment"]
    assert "measured by" not in comment and "training energy is estimated" in comment


def test_secrets_in_the_report_never_reach_a_published_file(tmp_path, monkeypatch):
    # a report written before the secret was known to the process (or edited by hand) that
    # quotes a credential: every published document is redacted as data, before it is
    # serialised (the model card's YAML folds long strings, which would split the secret)
    secret = "em-Publish-Secret-4242"
    monkeypatch.setenv("ELECTRICITYMAPS_API_TOKEN", secret)
    run, _ = _write_run(tmp_path)
    data = json.loads((run / "sci_report.json").read_text())
    data["intensity"]["source"] = (
        f"electricity_maps (a proxy quoting auth-token {secret} back) " + "x" * 60 + secret
    )
    data["run_name"] = f"run-{secret}"
    (run / "sci_report.json").write_text(json.dumps(data))
    [done] = publish(run, tmp_path / "out", check=True)
    assert len(done.files) == 3
    for path in done.files:
        text = path.read_text()
        assert secret not in text and "".join(text.split()).find(secret) == -1, path.name
        assert "[redacted]" in text, path.name


def test_an_error_quoting_the_report_is_redacted(tmp_path, monkeypatch, capsys):
    from sci_lightning.publish.__main__ import main

    secret = "em-Cli-Secret-9191"
    monkeypatch.setenv("ELECTRICITYMAPS_API_TOKEN", secret)
    run = tmp_path / f"run-{secret}"  # an error message names the folder
    run.mkdir()
    assert main([str(run), "--no-check"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and secret not in err and "[redacted]" in err


def test_a_real_fit_and_predict_reaches_the_bom_spdx_and_model_card(tmp_path):
    """A real Trainer fit + predict (scripted 10 W meter): the callback's inference record is published."""
    from scripted import ScriptClock, ScriptedModule

    from tests.e2e.test_accounting_matrix import _cb, _trainer

    clock = ScriptClock()
    run = tmp_path / "run"
    cb = _cb(
        clock,
        run,
        carbon={"provider": "static", "region": "FR", "static_g_per_kwh": 80.0},
        sci={"embodied_total_kg": 1000.0, "lifespan_years": 4.0},
    )
    trainer = _trainer(tmp_path, [cb])
    model = ScriptedModule(clock, n=32)
    trainer.fit(model)
    trainer.predict(model)
    (fig,) = cb.inference
    publish(run, tmp_path / "out", check=True)
    bom = json.loads((tmp_path / "out" / "bom.cdx.json").read_text())
    uses = bom["components"][0]["modelCard"]["considerations"]["environmentalConsiderations"][
        "energyConsumptions"
    ]
    assert [u["activity"] for u in uses] == ["training", "inference"]
    assert uses[1]["activityEnergyCost"]["value"] == pytest.approx(20.0 / 3.6e6)  # 4 batches x 0.5 s x 10 W
    assert uses[1]["co2CostEquivalent"]["value"] == pytest.approx(20.0 / 3.6e6 * 80.0 / 1e6)
    pkg = _graph_package(tmp_path / "out" / "model.spdx3.json")
    [infer] = pkg["ai_energyConsumption"]["ai_inferenceEnergyConsumption"]
    assert float(infer["ai_energyQuantity"]) == pytest.approx(fig.energy_kwh)
    card = (tmp_path / "out" / "README.md").read_text()
    assert "| inference | predict |" in card and "Inference energy: not measured" not in card
    assert "predict stage, 32 inferences" in card and "stage's window" in card
