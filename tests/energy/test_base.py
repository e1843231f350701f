"""energy/base.py: the result types every figure travels in (exact arithmetic, JSON round trips,
older files read) and the meter interface's defaults."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from sci_lightning.energy.base import (
    METHODS,
    ComponentEnergy,
    EnergyInterval,
    EnergyMeter,
    EnergyResult,
    Measurement,
    utcnow,
)

T0 = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)


def _components() -> list[ComponentEnergy]:
    return [
        ComponentEnergy("gpu", "GPU-0", 3600.0, "nvml_energy_counter", "measured"),
        ComponentEnergy("gpu", "GPU-1", 1800.0, "nvml_energy_counter", "measured"),
        ComponentEnergy("cpu", "host", 720.0, "cpu_time_tdp_estimate", "estimated", "partial", ["fell back"]),
    ]


def _measurement(**kw) -> Measurement:
    kw.setdefault("timeline", [EnergyInterval(T0, T0 + timedelta(seconds=60), 6120.0)])
    return Measurement(
        name="fit",
        components=_components(),
        duration_s=60.0,
        started_at=T0,
        ended_at=T0 + timedelta(seconds=60),
        **kw,
    )


def test_every_method_says_whether_it_measures_or_estimates():
    quality = {name: q for name, (q, _) in METHODS.items()}
    assert quality == {
        "nvml_energy_counter": "measured",
        "nvml_power_sampling": "measured",
        "rapl": "measured",
        "cpu_time_tdp_estimate": "estimated",
        "ram_per_gb_estimate": "estimated",
        "none": "estimated",
    }
    assert all(description for _, description in METHODS.values())


def test_utcnow_is_aware_utc():
    now = utcnow()
    assert now.tzinfo is timezone.utc and abs((datetime.now(timezone.utc) - now).total_seconds()) < 60


def test_component_energy_in_kwh():
    c = ComponentEnergy("gpu", "GPU-0", 7.2e6, "rapl", "measured")
    assert c.energy_kwh == 2.0 and c.status == "ok" and c.notes == []


def test_an_interval_round_trips_through_its_dict():
    interval = EnergyInterval(T0, T0 + timedelta(seconds=5), 12.5)
    d = interval.to_dict()
    assert d == {"start": "2026-01-01T12:00:00+00:00", "end": "2026-01-01T12:00:05+00:00", "energy_j": 12.5}
    assert EnergyInterval.from_dict(json.loads(json.dumps(d))) == interval


def test_a_measurement_sums_its_components_and_groups_them_by_component():
    m = _measurement()
    assert m.energy_j == 6120.0
    assert m.energy_by_component_j() == {"gpu": 5400.0, "cpu": 720.0}


def test_a_measurement_round_trips_through_json():
    m = _measurement(
        warnings=["w"],
        steps=8,
        images=64,
        parts=2,
        host="n1",
        hosts=["n1", "n2"],
        counter_baselines_mj={"GPU-0": 123456},
        resolution=["read every 0.1 s"],
        idle_power_w={"GPU-0": 61.5},
    )
    assert Measurement.from_dict(json.loads(json.dumps(m.to_dict()))) == m


def test_an_older_measurement_dict_reads_with_the_defaults():
    d = _measurement().to_dict()
    for key in ("warnings", "steps", "images", "parts", "host", "hosts", "counter_baselines_mj"):
        del d[key]
    for key in ("resolution", "idle_power_w"):
        del d[key]
    m = Measurement.from_dict(d)
    assert (m.steps, m.images, m.parts, m.host, m.hosts, m.warnings) == (0, 0, 1, "", [], [])
    assert m.all_hosts() == []


def test_all_hosts_are_the_reduced_hosts_else_the_windows_own():
    assert _measurement(host="n1").all_hosts() == ["n1"]
    assert _measurement(host="n1", hosts=["n1", "n2"]).all_hosts() == ["n1", "n2"]


def test_to_result_carries_the_window_and_the_jobs_counts():
    m = _measurement(steps=8, images=64, host="n1", warnings=["w"], idle_power_w={"GPU-0": 60.0})
    r = m.to_result(pue=1.5)
    assert (r.steps, r.batches, r.images, r.epochs, r.world_size, r.pue) == (8, 8, 64, 0.0, 1, 1.5)
    assert r.components == m.components and r.components is not m.components  # a copy
    assert (r.hosts, r.warnings, r.idle_power_w, r.duration_s) == (["n1"], ["w"], {"GPU-0": 60.0}, 60.0)
    r = m.to_result(steps=2, epochs=None, world_size=4, batches=8, images=256)
    assert (r.steps, r.batches, r.images, r.epochs, r.world_size) == (2, 8, 256, None, 4)


def _result(**kw) -> EnergyResult:
    return _measurement().to_result(**kw)


def test_facility_energy_is_it_energy_times_pue():
    r = _result(pue=1.5)
    assert r.it_energy_j == 6120.0 and r.energy_j == 9180.0
    assert r.energy_kwh == pytest.approx(9180.0 / 3.6e6)


def test_the_counts_are_also_named_for_what_they_count():
    r = _result(steps=3, images=96)
    assert r.optimizer_steps == 3 and r.samples == 96
    d = r.to_dict()
    assert (d["steps"], d["optimizer_steps"], d["images"], d["samples"]) == (3, 3, 96, 96)
    assert (d["it_energy_j"], d["energy_j"], d["energy_kwh"]) == (6120.0, 6120.0, 6120.0 / 3.6e6)
    assert d["started_at"] == "2026-01-01T12:00:00+00:00" and d["timeline"][0]["energy_j"] == 6120.0


def test_an_energy_result_round_trips_through_json_unknown_epochs_included():
    r = _result(pue=1.2, steps=5, epochs=None, world_size=2, batches=10, images=80)
    assert EnergyResult.from_dict(json.loads(json.dumps(r.to_dict()))) == r


def test_the_new_count_names_win_over_the_old_when_reading():
    d = _result(steps=5, images=80).to_dict()
    d["optimizer_steps"], d["samples"] = 7, 99  # a writer that changed the new names only
    r = EnergyResult.from_dict(d)
    assert (r.steps, r.images) == (7, 99)
    for key in ("optimizer_steps", "samples", "epochs", "pue", "world_size", "batches"):
        del d[key]
    r = EnergyResult.from_dict(d)
    assert (r.steps, r.images, r.epochs, r.pue, r.world_size, r.batches) == (5, 80, 0.0, 1.0, 1, 0)


def test_a_meter_must_implement_start_read_and_components():
    class Partial(EnergyMeter):
        def start(self) -> None: ...

    with pytest.raises(TypeError, match="abstract"):
        Partial()  # type: ignore[abstract]


def test_the_optional_meter_features_default_to_nothing(scripted_meter, script_clock):
    meter = scripted_meter(script_clock, power_w=5.0)  # overrides none of them
    meter.start()
    assert meter.exclude_pids([1, 2]) is None
    assert meter.counter_baselines_mj() == {} and meter.notes == [] and meter.stop() is None
    script_clock.advance(4.0)
    assert meter.read_j() == {"GPU-0": 20.0}
    assert EnergyMeter.component == "?"
