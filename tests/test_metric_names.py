"""The metric names and their values (sci_lightning.metric_names): units in every name, the fit totals
from a real EnergyResult, the stage and SCI scalars, and which names TensorBoard leaves out."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from sci_lightning import metric_names as mn
from sci_lightning.energy.base import ComponentEnergy, EnergyResult

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_power_names_one_component_and_refuses_the_total():
    assert mn.power_w("gpu") == "energy/power_w/gpu"
    with pytest.raises(ValueError, match="sum of the components"):
        mn.power_w("total")


def test_fit_totals_apply_the_pue_and_sum_each_component_over_its_devices():
    components = [
        ComponentEnergy("gpu", "GPU-0", 3_600_000.0, "nvml_energy_counter", "measured"),  # 1 kWh
        ComponentEnergy("gpu", "GPU-1", 1_800_000.0, "nvml_energy_counter", "measured"),  # 0.5 kWh
        ComponentEnergy("cpu", "host", 360_000.0, "cpu_time_estimate", "estimated"),  # 0.1 kWh
    ]
    result = EnergyResult(
        started_at=T0,
        ended_at=T0 + timedelta(hours=1),
        duration_s=3600.0,
        components=components,
        timeline=[],
        pue=1.5,
    )
    m = mn.fit_energy_metrics(result)
    assert m["energy/fit/it_kwh"] == pytest.approx(1.6)
    assert m["energy/fit/it_wh"] == pytest.approx(1600.0)
    assert m["energy/fit/total_kwh"] == pytest.approx(2.4) and m["energy/fit/total_wh"] == pytest.approx(
        2400.0
    )
    assert m["energy/fit/pue"] == 1.5 and m["energy/fit/duration_s"] == 3600.0
    assert m["energy/fit/mean_power_w"] == pytest.approx(1600.0)  # IT power: 5.76 MJ over 3600 s
    assert m["energy/fit/gpu_kwh"] == pytest.approx(1.5) and m["energy/fit/gpu_wh"] == pytest.approx(1500.0)
    assert m["energy/fit/gpu/nvml_energy_counter_kwh"] == pytest.approx(1.5)
    assert m["energy/fit/cpu/cpu_time_estimate_kwh"] == pytest.approx(0.1)
    assert mn.path_prefix_clashes(m) == []


def test_a_fit_of_no_duration_has_no_mean_power():
    result = EnergyResult(started_at=T0, ended_at=T0, duration_s=0.0, components=[], timeline=[])
    assert "energy/fit/mean_power_w" not in mn.fit_energy_metrics(result)


def test_stage_figures_are_named_by_their_stage():
    record = SimpleNamespace(stage="test", energy_kwh=0.002, it_energy_kwh=0.001, duration_s=12.0)
    assert mn.stage_energy_metrics(record) == {
        "energy/test/total_kwh": 0.002,
        "energy/test/total_wh": 2.0,
        "energy/test/it_wh": 1.0,
        "energy/test/duration_s": 12.0,
    }


def test_inference_figures_leave_out_what_could_not_be_computed():
    fig = SimpleNamespace(
        stage="predict",
        energy_per_sample_kwh=1e-6,
        sci_per_1000_g=0.25,
        operational_per_1000_g=0.2,
        embodied_per_1000_g=None,
        intensity_g_per_kwh=200.0,
    )
    assert mn.inference_metrics(fig) == {
        "inference/predict/energy_j_per_sample": pytest.approx(3.6),
        "inference/predict/sci_g_per_1000": 0.25,
        "inference/predict/sci_mg_per_1000": 250.0,
        "inference/predict/operational_g_per_1000": 0.2,
        "inference/predict/intensity_g_per_kwh": 200.0,
    }


def test_sci_scalars_come_in_g_and_mg_kwh_and_wh():
    result = SimpleNamespace(
        sci=0.5,
        operational_g=0.4,
        embodied_g=0.1,
        energy_kwh=0.002,
        mean_intensity_g_per_kwh=200.0,
        cost_usd=0.3,
    )
    m = mn.sci_metrics(result)
    assert (m["sci/score"], m["sci/score_mg"]) == (0.5, 500.0)
    assert (m["sci/operational_mg"], m["sci/embodied_mg"], m["sci/energy_wh"]) == (400.0, 100.0, 2.0)
    assert (m["sci/intensity_g_per_kwh"], m["sci/cost_usd"]) == (200.0, 0.3)
    assert all(mn.is_fit_end_total(name) for name in m)


@pytest.mark.parametrize(
    "name, once",
    [
        ("energy/fit/total_kwh", True),
        ("energy/validate/total_wh", True),
        ("inference/test/sci_g_per_1000", True),
        ("sci/score", True),
        (mn.SO_FAR_SCI_MG, False),
        (mn.PROJECTED_SCI_MG, False),
        (mn.SO_FAR_KWH, False),
        (mn.POWER_TOTAL_W, False),
        ("energy/fitness/x", False),
    ],
)
def test_names_logged_once_are_told_from_series(name, once):
    assert mn.is_fit_end_total(name) is once


def test_path_prefix_clashes_finds_a_name_that_is_another_ones_folder():
    assert mn.path_prefix_clashes(["a/b", "a/b/c", "a/bc", "a/b/c/d"]) == [
        ("a/b", "a/b/c"),
        ("a/b", "a/b/c/d"),
        ("a/b/c", "a/b/c/d"),
    ]
    series = [mn.POWER_TOTAL_W, mn.power_w("gpu"), mn.BATCH_J, mn.SO_FAR_KWH, mn.SO_FAR_WH, mn.EPOCH_J]
    series += [mn.SO_FAR_INTENSITY_G_PER_KWH, mn.SO_FAR_OPERATIONAL_MG, mn.SO_FAR_SCI_MG, mn.PROJECTED_SCI_MG]
    assert mn.path_prefix_clashes(series + list(mn.RESULT_NAMES.values())) == []
