"""lightning/sci_step.py: the fit-end carbon step. A failing provider is guarded (redacted, then the
static table), a stage's intensity says where it came from, and ``run_sci_step`` on a real (tiny, CPU)
fit with a scripted 10 W meter scores exactly E x I, writes the report and records its meta."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Trainer
from scripted import ConstantPowerMeter, ScriptClock, ScriptedModule, quiet_trainer

from sci_lightning.carbon.base import IntensityProvider, IntensitySeries, ProviderError
from sci_lightning.carbon.chain import FallbackProvider
from sci_lightning.carbon.static import StaticProvider, lookup_static
from sci_lightning.energy.base import ComponentEnergy, EnergyInterval, EnergyResult
from sci_lightning.lightning.callback import EnergyCarbonCallback
from sci_lightning.lightning.sci_step import (
    _Guarded,
    _report_meta,
    _static_last,
    intensity_over,
    run_sci_step,
    stage_intensity,
)
from sci_lightning.settings import CarbonConfig, SciConfig

T0 = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
SECRET = "token=hunter2secret"


class _Down(IntensityProvider):
    """A provider whose every call fails, quoting a credential in its error."""

    name, region = "watttime", "FR"

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error or ConnectionError(f"GET https://api/v3?{SECRET} refused")
        self.calls = 0

    def history(self, start, end) -> IntensitySeries:
        self.calls += 1
        raise self.error

    def forecast(self, start=None, horizon=timedelta(hours=24)) -> IntensitySeries:
        raise self.error


def _energy_result() -> EnergyResult:
    """One hour at 10 W (36 kJ)."""
    end = T0 + timedelta(hours=1)
    gpu = ComponentEnergy("gpu", "GPU-0", 36_000.0, "nvml_energy_counter", "measured")
    return EnergyResult(T0, end, 3600.0, [gpu], [EnergyInterval(T0, end, 36_000.0)])


# ------------------------------------------------------------------ the guarded chain
def test_any_failure_of_a_guarded_provider_is_a_redacted_provider_error():
    guarded = _Guarded(_Down())
    assert (guarded.name, guarded.region, guarded.signal_type) == ("watttime", "FR", "average")
    with pytest.raises(ProviderError) as failed:
        guarded.history(T0, T0 + timedelta(hours=1))
    assert str(failed.value).startswith("[watttime] ConnectionError: GET https://api/v3?")
    assert "hunter2secret" not in str(failed.value)
    with pytest.raises(ProviderError, match=r"^\[watttime\] token expired") as again:
        _Guarded(_Down(ProviderError("watttime", "token expired"))).forecast(T0)
    assert "hunter2secret" not in str(again.value)


def test_a_working_provider_answers_through_the_guard_unchanged():
    static = StaticProvider("FR", g_per_kwh=100.0)
    guarded = _Guarded(static)
    assert (
        guarded.history(T0, T0 + timedelta(hours=1)).points
        == static.history(T0, T0 + timedelta(hours=1)).points
    )
    assert guarded.current().g_per_kwh == 100.0


def test_the_static_table_comes_last_once_and_the_chain_is_flattened():
    down = _Down()
    chain = _static_last(down, CarbonConfig(region="DE", static_g_per_kwh=250.0))
    first, last = chain.providers
    assert isinstance(first, _Guarded) and first.inner is down
    assert (
        isinstance(last, StaticProvider) and last.g_per_kwh == 250.0
    )  # the provider's region, the set value
    assert chain.cooldown_s == 0.0
    user_chain = FallbackProvider([down, StaticProvider("DE")])
    flat = _static_last(user_chain, None).providers
    assert [type(p) for p in flat] == [_Guarded, StaticProvider] and flat[1].region == "DE"


def test_a_provider_without_a_region_gets_the_settings_region_or_the_worlds():
    class NoRegion(_Down):
        region = ""

    assert _static_last(NoRegion(), CarbonConfig(region="FR")).providers[-1].region == "FR"
    world = _static_last(NoRegion(), None).providers[-1]
    assert world.g_per_kwh == lookup_static("world").g_per_kwh


def test_intensity_over_a_failed_provider_is_the_static_value_with_every_fallback_recorded():
    down = _Down()
    down.fallbacks_used = [{"provider": "earlier", "reason": "during planning"}]  # type: ignore[attr-defined]
    result = _energy_result()
    with pytest.warns(UserWarning, match="watttime"):
        series, fallbacks = intensity_over(down, CarbonConfig(static_g_per_kwh=80.0), result)
    assert {p.g_per_kwh for p in series.points} == {80.0}
    assert [f["provider"] for f in fallbacks] == ["earlier", "watttime"]
    assert fallbacks[1]["replaced_by"] and "hunter2secret" not in json.dumps(fallbacks)


def test_a_stages_intensity_and_where_it_came_from():
    end = T0 + timedelta(minutes=30)
    g, source = stage_intensity(StaticProvider("FR", g_per_kwh=120.0), None, SciConfig(), T0, end)
    assert g == 120.0
    assert (
        "time-weighted over the stage's window 2026-03-01T12:00:00+00:00 to 2026-03-01T12:30:00+00:00"
        in source
    )
    with pytest.warns(UserWarning, match="watttime"):
        g, source = stage_intensity(_Down(), CarbonConfig(static_g_per_kwh=90.0), SciConfig(), T0, end)
    assert g == 90.0 and "; watttime failed (" in source and "hunter2secret" not in source


# ------------------------------------------------------------------ run_sci_step on a real fit
P_W = 10.0
J_PER_KWH = 3.6e6


def _fit(tmp_path: Path) -> tuple[Trainer, ScriptedModule, EnergyCarbonCallback]:
    clock = ScriptClock()
    energy = EnergyCarbonCallback(
        meters=[ConstantPowerMeter(clock, P_W)], output_dir=str(tmp_path), clock=clock, compute_sci=False
    )
    trainer = quiet_trainer(
        tmp_path,
        [energy],
        limit_val_batches=0,
        max_steps=8,
    )
    model = ScriptedModule(clock, n=64, batch_size=8)  # 8 batches of 1 scripted s: 80 J
    trainer.fit(model)
    return trainer, model, energy


def test_run_sci_step_scores_e_times_i_and_writes_the_report(tmp_path):
    trainer, model, energy = _fit(tmp_path)
    assert energy.result is not None and energy.result.it_energy_j == 80.0
    trainer.callback_metrics["val/acc"] = torch.tensor(0.625)
    out = tmp_path / "report"
    sci, report = run_sci_step(
        trainer,
        model,
        energy.result,
        provider=StaticProvider("FR", g_per_kwh=100.0),
        carbon=None,
        sci=SciConfig(),
        out_dir=str(out),
        report_meta={"run_name": "r1"},
        carbon_aware=lambda kwh: {"energy_kwh_seen": kwh},
    )
    assert sci.operational_g == pytest.approx(80.0 / J_PER_KWH * 100.0)
    assert sci.mean_intensity_g_per_kwh == 100.0 and sci.fallbacks == []
    assert sci.sci == pytest.approx(sci.operational_g + sci.embodied_g)  # R = 1 job
    written = json.loads((out / "sci_report.json").read_text())
    assert written["sci"]["value"] == pytest.approx(sci.sci)
    assert written["operational_g"] == pytest.approx(sci.operational_g)
    assert (out / "sci_report.md").is_file() and (out / "impact.yml").is_file()
    assert (report.model, report.val_acc, report.run_name) == ("ScriptedModule", 0.625, "r1")
    assert report.carbon_aware is not None
    assert report.carbon_aware.findings == {"energy_kwh_seen": pytest.approx(80.0 / J_PER_KWH)}


def test_failed_carbon_aware_findings_are_left_out_with_a_warning(tmp_path):
    trainer, model, energy = _fit(tmp_path)
    assert energy.result is not None

    def broken(kwh: float):
        raise KeyError("forecast")

    with pytest.warns(UserWarning, match="carbon-aware findings could not be computed"):
        _, report = run_sci_step(
            trainer,
            model,
            energy.result,
            provider=StaticProvider("FR", g_per_kwh=100.0),
            carbon=None,
            sci=SciConfig(),
            out_dir=str(tmp_path / "report"),
            report_meta={},
            carbon_aware=broken,
        )
    assert report.carbon_aware is None


def test_the_report_meta_names_the_model_and_a_paused_slot_run(tmp_path):
    trainer, model, _ = _fit(tmp_path)
    model.hparams["model_name"] = "inception"
    trainer.callback_metrics["val/acc_top5"] = torch.tensor(0.5)
    trainer.callback_metrics["val/acc"] = "not a number"  # type: ignore[assignment]
    meta = _report_meta(trainer, model, {"status": "completed", "slots": {"status": "paused"}})
    assert (meta["model"], meta["val_acc"], meta["val_acc_top5"]) == ("inception", None, 0.5)
    assert meta["status"] == "paused"  # schedule=interrupt, pause=exit: work remains
    assert (
        _report_meta(trainer, model, {"status": "completed", "slots": {"status": "done"}})["status"]
        == "completed"
    )
    assert _report_meta(trainer, model, {"status": "interrupted", "slots": {"status": "paused"}})[
        "status"
    ] == ("interrupted")
