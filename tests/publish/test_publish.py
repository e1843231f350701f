"""Publishing across the package: the CLI (python -m sci_lightning.publish), and a run's figures reaching
all three documents (model card, CycloneDX 1.6 ML-BOM, SPDX 3.0.1 AI package) together.

Each document has its own file: test_model_card.py, test_cyclonedx.py, test_spdx.py; the activities and
the writer: test_activities.py, test_writer.py. The run folder: tests/helpers/published_runs.py.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from published_runs import WORK, graph_package, write_run

from sci_lightning.publish import co2_eq_emissions, publish, run_activities
from sci_lightning.sci.writer import write_run_report
from tests.sci.test_report import META, make_run

pytest.importorskip("huggingface_hub")
pytest.importorskip("cyclonedx.validation.json")


def test_fine_tuning_when_only_part_of_the_model_was_trained(tmp_path):
    run, _ = write_run(tmp_path, work=WORK)
    assert co2_eq_emissions(run_activities(run))["training_type"] == "fine-tuning"
    publish(run, tmp_path / "out", check=True)  # the BOM still passes strict 1.6 validation
    bom = json.loads((tmp_path / "out" / "bom.cdx.json").read_text())
    uses = bom["components"][0]["modelCard"]["considerations"]["environmentalConsiderations"][
        "energyConsumptions"
    ]
    assert [u["activity"] for u in uses] == ["fine-tuning", "inference", "data-preparation"]
    pkg = graph_package(tmp_path / "out" / "model.spdx3.json")
    assert "ai_finetuningEnergyConsumption" in pkg["ai_energyConsumption"]


def test_without_inference_the_documents_say_not_measured(tmp_path):
    run, _ = write_run(tmp_path, inference=False, preparation=False)
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
    pkg = graph_package(tmp_path / "out" / "model.spdx3.json")
    [infer] = pkg["ai_energyConsumption"]["ai_inferenceEnergyConsumption"]
    assert float(infer["ai_energyQuantity"]) == pytest.approx(fig.energy_kwh)
    card = (tmp_path / "out" / "README.md").read_text()
    assert "| inference | predict |" in card and "Inference energy: not measured" not in card
    assert "predict stage, 32 inferences" in card and "stage's window" in card
