"""The README's plain-Lightning example: the public API, no Hydra."""

from __future__ import annotations

import json

import lightning as L
from fake_nvml import TinyModule

import sci_lightning
from sci_lightning import EnergyCarbonCallback
from sci_lightning.settings import CarbonConfig


def test_public_names_resolve():
    for name in sci_lightning.__all__:
        assert getattr(sci_lightning, name) is not None


def test_readme_callback_example_writes_energy_and_sci(tmp_path):
    cb = EnergyCarbonCallback(output_dir=str(tmp_path), carbon=CarbonConfig(provider="static", region="DE"))
    trainer = L.Trainer(
        max_epochs=1,
        callbacks=[cb],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(TinyModule())
    assert cb.result.energy_kwh > 0
    report = json.loads((tmp_path / "sci_report.json").read_text())
    assert report == cb.report.to_dict()
    assert report["intensity"]["region"].upper() in ("DE", "GERMANY")
    assert report["sci"]["value"] == report["operational_g"]  # M = 0, R = 1 job
    assert (tmp_path / "energy.json").is_file() and (tmp_path / "impact.yml").is_file()


def test_provider_failing_at_fit_end_is_recorded_as_a_fallback_and_redacted(tmp_path):
    from datetime import timedelta

    from sci_lightning.carbon.base import IntensityProvider, ProviderError

    class Broken(IntensityProvider):
        name, region, signal_type = "broken", "DE", "marginal"

        def history(self, start, end):
            raise ProviderError(self.name, "upstream said no to token=abc123secret")

        def forecast(self, start=None, horizon=timedelta(hours=24)):
            raise ProviderError(self.name, "no forecast")

    cb = EnergyCarbonCallback(output_dir=str(tmp_path), carbon=Broken())
    trainer = L.Trainer(
        max_epochs=1,
        callbacks=[cb],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(TinyModule())
    report = json.loads((tmp_path / "sci_report.json").read_text())
    assert report["intensity"]["kind"] == "fallback"
    assert report["intensity"]["fallbacks"][0]["provider"] == "broken"
    assert report["intensity"]["fallbacks"][0]["replaced_by"] == "static"
    assert report["sci"]["value"] > 0
    for f in tmp_path.iterdir():
        assert "abc123secret" not in f.read_text(errors="replace"), f
