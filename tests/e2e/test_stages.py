"""Stages outside ``fit`` (validate, test, predict, tuning): each its own measured window and
record, written to the run's files and loggers, never in the fit's SCI (docs/accounting.md).

The scripted clock (:mod:`scripted`) advances 1 s per training step and 0.5 s per evaluation
step; the meter draws 10 W, so a stage of ``b`` evaluation batches drew exactly ``5 x b`` J.
"""

from __future__ import annotations

import json

import pytest
from lightning.pytorch.tuner import Tuner
from scripted import ScriptClock, ScriptedModule

from sci_lightning.sci.report import SciReport
from tests.e2e.test_accounting_matrix import _cb, _trainer


def _stage(cb, name):
    (record,) = [s for s in cb.stages if s.stage == name]
    return record


def test_validate_test_and_predict_after_fit_each_get_a_record(tmp_path):
    clock = ScriptClock()
    cb = _cb(clock, tmp_path, energy={"pue": 1.5})
    trainer = _trainer(tmp_path, [cb], max_epochs=1, limit_val_batches=1.0)
    model = ScriptedModule(clock, n=48)  # 6 batches of 8
    trainer.fit(model)
    fit_j = cb.result.it_energy_j
    trainer.validate(model)
    trainer.test(model)
    trainer.predict(model)
    assert (
        fit_j == 90.0 and cb.result.it_energy_j == 90.0
    )  # 6 x 1 s + 6 x 0.5 s; the fit's figures stay the fit's
    for name in ("validate", "test", "predict"):
        st = _stage(cb, name)
        assert (st.it_energy_kwh * 3.6e6, st.energy_kwh * 3.6e6, st.duration_s) == (30.0, 45.0, 3.0)
        assert (st.batches, st.samples, st.quality, st.status, st.pue) == (
            6,
            48,
            "measured",
            "completed",
            1.5,
        )
        assert st.methods == ["gpu:nvml_energy_counter"]
    report = SciReport.read(tmp_path)  # the fit's report, with the later stages added
    assert [s.stage for s in report.stages] == ["validate", "test", "predict"]
    assert report.stages[1].samples == 48 and report.stages[1].energy_kwh == pytest.approx(45.0 / 3.6e6)
    assert report.energy_kwh.it_total == pytest.approx(90.0 / 3.6e6)
    assert "Other stages (not in the SCI above)" in (tmp_path / "sci_report.md").read_text()
    on_disk = json.loads((tmp_path / "energy.json").read_text())
    assert [s["stage"] for s in on_disk["stages"]] == ["validate", "test", "predict"]
    assert json.loads((tmp_path / "stages.json").read_text())["stages"][2]["batches"] == 6
    assert float(trainer.callback_metrics["energy/predict/it_wh"]) == pytest.approx(30.0 / 3600)


def test_validate_alone_is_measured_without_a_fit(tmp_path):
    clock = ScriptClock()
    cb = _cb(clock, tmp_path)
    _trainer(tmp_path, [cb], limit_val_batches=1.0).validate(ScriptedModule(clock, n=16))
    st = _stage(cb, "validate")
    assert (st.it_energy_kwh * 3.6e6, st.batches, st.samples) == (10.0, 2, 16)
    assert cb.result is None and not (tmp_path / "energy.json").exists()
    assert json.loads((tmp_path / "stages.json").read_text())["stages"][0]["stage"] == "validate"


@pytest.mark.parametrize("fail", [False, True])
def test_a_failing_test_stage_is_recorded_failed(tmp_path, fail):
    clock = ScriptClock()
    cb = _cb(clock, tmp_path)

    class Broken(ScriptedModule):
        def test_step(self, batch, batch_idx):
            if fail and batch_idx == 2:
                raise RuntimeError("boom")
            return super().test_step(batch, batch_idx)

    trainer = _trainer(tmp_path, [cb])
    if fail:
        with pytest.raises(RuntimeError, match="boom"):
            trainer.test(Broken(clock, n=32))
    else:
        trainer.test(Broken(clock, n=32))
    st = _stage(cb, "test")
    assert (st.status, st.batches, st.it_energy_kwh * 3.6e6) == (
        ("failed", 2, 10.0) if fail else ("completed", 4, 20.0)
    )


@pytest.mark.slow
def test_scale_batch_size_before_fit_is_its_own_tune_stage(tmp_path):
    clock = ScriptClock()
    cb = _cb(clock, tmp_path)
    trainer = _trainer(tmp_path, [cb], max_epochs=1)
    model = ScriptedModule(clock, n=64, batch_size=2)
    Tuner(trainer).scale_batch_size(model, mode="power", steps_per_trial=2, init_val=2, max_trials=3)
    tune_batches = model.calls["train"]
    assert tune_batches > 0
    trainer.fit(model)
    fit_batches = model.calls["train"] - tune_batches
    tune = _stage(cb, "tune")
    assert (
        tune.method == "scale_batch_size" and tune.batches is None and tune.samples is None
    )  # callbacks off
    assert any("not counted" in n for n in tune.notes)
    assert tune.it_energy_kwh * 3.6e6 == pytest.approx(10.0 * tune_batches)  # 1 s x 10 W per trial batch
    assert cb.result.it_energy_j == 10.0 * fit_batches and cb.result.batches == fit_batches
    report = SciReport.read(tmp_path)
    assert [s.stage for s in report.stages] == ["tune"] and report.stages[0].batches is None


def test_test_and_predict_get_a_consumer_sci_from_the_stage_window(tmp_path):
    """Inference energy per sample is the predict window's energy over its samples, exactly; the
    SCI per 1,000 inferences at a static 120 g/kWh and TE 2,000 kg over 4 years is by hand."""
    from sci_lightning.sci.compute import SECONDS_PER_YEAR

    clock = ScriptClock()
    sci = {"embodied_total_kg": 2000.0, "lifespan_years": 4.0}
    cb = _cb(
        clock, tmp_path, carbon={"provider": "static", "region": "FR", "static_g_per_kwh": 120.0}, sci=sci
    )
    trainer = _trainer(tmp_path, [cb], max_epochs=1)
    model = ScriptedModule(clock, n=48)  # 6 batches of 8
    trainer.fit(model)
    trainer.test(model)
    trainer.predict(model)
    predict, fig = _stage(cb, "predict"), cb.inference[-1]
    assert [f.stage for f in cb.inference] == ["test", "predict"] and fig.samples == predict.samples == 48
    assert fig.energy_per_sample_kwh == predict.energy_kwh / predict.samples  # exactly
    assert fig.energy_per_sample_kwh * 3.6e6 == pytest.approx(30.0 / 48)  # 6 x 0.5 s x 10 W over 48 images
    embodied_g = 2000.0 * 1000.0 * 3.0 / (4.0 * SECONDS_PER_YEAR)  # TE x TiR / EL, TiR = the stage's 3 s
    by_hand = (30.0 / 3.6e6 * 120.0 + embodied_g) / 48 * 1000
    assert fig.intensity_g_per_kwh == 120.0 and fig.sci_per_1000_g == pytest.approx(by_hand, rel=1e-12)
    assert "static" in fig.intensity_source and "stage's window" in fig.intensity_source
    assert float(trainer.callback_metrics["inference/predict/sci_g_per_1000"]) == pytest.approx(by_hand)
    assert float(trainer.callback_metrics["inference/predict/energy_j_per_sample"]) == pytest.approx(
        30.0 / 48
    )
    report = SciReport.read(tmp_path)  # the fit's report, rewritten with the inference records
    assert [f.stage for f in report.inference] == ["test", "predict"]
    assert report.inference[1].sci_per_1000_g == pytest.approx(by_hand)
    assert report.sci_inputs.energy_kwh == pytest.approx(60.0 / 3.6e6)  # the fit's SCI is the fit's only
    md = (tmp_path / "sci_report.md").read_text()
    assert "## Inference (Consumer SCI)" in md and "predict: I = 120 gCO2e/kWh from" in md
    assert json.loads((tmp_path / "stages.json").read_text())["inference"][1]["samples"] == 48


def test_predict_alone_gets_a_consumer_sci_without_a_fit(tmp_path):
    clock = ScriptClock()
    cb = _cb(clock, tmp_path, carbon={"provider": "static", "region": "FR", "static_g_per_kwh": 50.0})
    _trainer(tmp_path, [cb]).predict(ScriptedModule(clock, n=16))
    (fig,) = cb.inference
    assert fig.energy_per_sample_kwh * 3.6e6 == pytest.approx(10.0 / 16) and fig.embodied_g == 0.0
    assert fig.sci_per_1000_g == pytest.approx(10.0 / 3.6e6 * 50.0 / 16 * 1000)
    assert not (tmp_path / "sci_report.json").exists()
    assert json.loads((tmp_path / "stages.json").read_text())["inference"][0]["stage"] == "predict"


def test_validate_gets_no_consumer_sci_and_compute_sci_false_gives_energy_only(tmp_path):
    clock = ScriptClock()
    cb = _cb(clock, tmp_path, compute_sci=False)
    trainer = _trainer(tmp_path, [cb], limit_val_batches=1.0)
    trainer.validate(ScriptedModule(clock, n=16))
    trainer.test(ScriptedModule(clock, n=16))
    (fig,) = cb.inference
    assert fig.stage == "test" and fig.sci_per_1000_g is None and fig.energy_per_sample_kwh is not None
    assert "compute_sci=False" in fig.intensity_source
