"""A run's activities for the published documents (sci_lightning.publish.activities): training first,
then each inference stage and data-preparation record, each with its energy, emissions and method."""

from __future__ import annotations

from dataclasses import replace

import pytest
from published_runs import WORK, write_run

from sci_lightning.publish.activities import (
    Activity,
    energy_method,
    hardware_used,
    location,
    run_activities,
    training_type,
)
from sci_lightning.sci.codec import FormatError


def test_training_inference_and_preparation_by_hand(tmp_path):
    run, report = write_run(tmp_path)
    docs = run_activities(run)
    assert docs.run_dir == run and docs.report == report and docs.training is docs.activities[0]
    training, inference, prep = docs.activities
    assert (training.activity, training.name) == ("training", "training job")
    assert training.energy_kwh == pytest.approx(report.energy_kwh.total)
    assert training.carbon_g == pytest.approx(report.operational_g + report.embodied_g)
    assert (inference.activity, inference.name, inference.energy_kwh) == ("inference", "predict", 0.002)
    assert inference.method.startswith("predict stage, 10000 inferences in 40 s: energy measured (gpu: nvml")
    assert (prep.activity, prep.name, prep.amortised, prep.embodied_g) == (
        "data-preparation",
        "decode_cache",
        True,
        0.0,
    )
    # estimated with the run's mean intensity: 59.88 g / (0.135 kWh x PUE 1.2) = 369.6 g/kWh
    mean = report.intensity.mean_g_per_kwh
    assert mean == pytest.approx(59.88 / (0.135 * 1.2))
    assert prep.operational_g == pytest.approx(0.004 * mean)
    assert f"mean intensity {mean:.4g} gCO2e/kWh." in prep.method and "Reused cache" in prep.method


def test_training_method_says_how_each_figure_was_obtained(tmp_path):
    run, report = write_run(tmp_path, inference=False, preparation=False)
    method = run_activities(run).training.method
    assert method.startswith(
        "energy mixed: gpu (measured: NVML total-energy counter (nvmlDeviceGetTotalEnergyConsumption), read at "
        "step boundaries); cpu (estimated: process CPU time x (TDP / cores)), x PUE 1.2; grid intensity "
        "369.6 gCO2e/kWh (measured, average signal) from electricity_maps for DE, integrated over the energy "
        "timeline; M = TE x (TiR / EL)"
    )
    assert method.endswith(report.embodied.statement)
    no_pue = replace(report, pue=None)
    assert energy_method(no_pue).endswith(", PUE not recorded")


def test_carbon_is_none_without_an_operational_figure():
    a = Activity("training", "t", 1.0, None, 5.0, "m")
    assert a.carbon_g is None and Activity("training", "t", 1.0, 2.0, 5.0, "m").carbon_g == 7.0


def test_hardware_location_and_training_type(tmp_path):
    run, report = write_run(tmp_path, inference=False, preparation=False)
    assert hardware_used(report) == "1 x NVIDIA T4" and location(report) == "DE"
    cpu_only = replace(
        report, energy_kwh=replace(report.energy_kwh, components=report.energy_kwh.components[1:])
    )
    assert hardware_used(cpu_only) == "CPU (model not recorded)"
    assert hardware_used(replace(cpu_only, hardware={"cpu": "Xeon"})) == "Xeon"
    assert location(replace(report, intensity=replace(report.intensity, region=None))) == "not recorded"
    assert training_type(report) == "pre-training"
    assert training_type(replace(report, work=WORK)) == "fine-tuning"
    assert training_type(replace(report, work=replace(WORK, parameters_trainable=WORK.parameters_gross))) == (
        "pre-training"
    )
    assert training_type(replace(report, work=replace(WORK, parameters_trainable=0))) == "pre-training"


def test_a_folder_without_a_readable_report_raises(tmp_path):
    with pytest.raises(OSError):
        run_activities(tmp_path)
    (tmp_path / "sci_report.json").write_text("[1]")
    with pytest.raises(FormatError, match="must be an object"):
        run_activities(tmp_path)
