"""The README's plain-Lightning example: the public API, no Hydra."""

from __future__ import annotations

import json

import lightning as L
from fake_nvml import TinyModule

import sci_lightning
from sci_lightning import EnergyCarbonCallback
from sci_lightning.carbon.config import CarbonConfig


def test_public_names_resolve():
    for name in sci_lightning.__all__:
        assert getattr(sci_lightning, name) is not None


def test_readme_callback_example_writes_energy_and_sci(tmp_path):
    cb = EnergyCarbonCallback(output_dir=str(tmp_path), carbon=CarbonConfig(provider="static", region="DE"))
    trainer = L.Trainer(max_epochs=1, callbacks=[cb], logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")
    trainer.fit(TinyModule())
    assert cb.result.energy_kwh > 0
    report = json.loads((tmp_path / "sci_report.json").read_text())
    assert report == cb.report
    assert report["intensity"]["region"].upper() in ("DE", "GERMANY")
    assert report["sci"]["value"] == report["operational_g"]  # M = 0, R = 1 job
    assert (tmp_path / "energy.json").is_file() and (tmp_path / "impact.yml").is_file()
