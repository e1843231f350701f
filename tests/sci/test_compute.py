"""SCI arithmetic against hand-computed cases (GSF SCI v1.1: SCI = ((E x I) + M) per R)."""

from __future__ import annotations

import csv
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from sci_lightning.carbon.base import IntensityPoint, IntensitySeries
from sci_lightning.energy.base import ComponentEnergy, EnergyInterval, EnergyResult
from sci_lightning.errors import ConfigError
from sci_lightning.sci.compute import (
    SECONDS_PER_YEAR,
    SciError,
    compute_sci,
    embodied_g,
    integrate_operational_g,
)
from sci_lightning.settings import SciConfig, coerce

UTC = timezone.utc
T0 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
KWH = 3.6e6  # J
CONF_DIR = Path(__file__).resolve().parents[2] / "conf" / "sci"
TRACE = Path(__file__).resolve().parents[3] / "shared" / "data" / "carbon-intensity" / "CISO_2023_hourly.csv"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def energy_result(timeline, *, pue=1.0, epochs=0, images=0, components=None, duration_s=None) -> EnergyResult:
    it_j = sum(i.energy_j for i in timeline)
    comps = components or [ComponentEnergy("gpu", "GPU-0", it_j, "nvml_energy_counter", "measured")]
    start, end = timeline[0].start, timeline[-1].end
    return EnergyResult(
        started_at=start,
        ended_at=end,
        duration_s=(end - start).total_seconds() if duration_s is None else duration_s,
        components=comps,
        timeline=list(timeline),
        pue=pue,
        steps=10,
        epochs=epochs,
        images=images,
    )


def series(*points, source="static", kind="static") -> IntensitySeries:
    return IntensitySeries(
        [IntensityPoint(s, e, g) for s, e, g in points],
        source=source,
        region="test",
        signal_type="average",
        kind=kind,
    )


HOURLY = series((at(0), at(60), 100.0), (at(60), at(120), 300.0), (at(120), at(180), 50.0))


# ------------------------------------------------------------------ E x I


def test_constant_intensity_is_energy_times_intensity():
    tl = [EnergyInterval(at(0), at(30), 0.5 * KWH), EnergyInterval(at(30), at(60), 1.5 * KWH)]
    res = compute_sci(energy_result(tl, epochs=1, images=100), series((at(-60), at(120), 400.0)), SciConfig())
    assert res.energy_kwh == pytest.approx(2.0)
    assert res.operational_g == pytest.approx(800.0)
    assert res.mean_intensity_g_per_kwh == pytest.approx(400.0)
    assert res.sci == pytest.approx(800.0) and res.sci_unit == "gCO2e/job"
    assert res.embodied_g == 0.0
    assert not res.notes


def test_intensity_changing_during_run_is_integrated_per_interval():
    # 10:30-11:30 straddles the 11:00 boundary: half at 100, half at 300 -> 200 g/kWh.
    # 11:30-12:15 straddles 12:00: 30 min at 300, 15 min at 50 -> (30*300 + 15*50)/45 = 216.67
    tl = [EnergyInterval(at(30), at(90), 1.0 * KWH), EnergyInterval(at(90), at(135), 3.0 * KWH)]
    grams, recs = integrate_operational_g(tl, HOURLY.points)
    assert recs[0].g_per_kwh == pytest.approx(200.0)
    assert recs[1].g_per_kwh == pytest.approx((30 * 300 + 15 * 50) / 45)
    assert grams == pytest.approx(200.0 + 3.0 * (30 * 300 + 15 * 50) / 45)
    res = compute_sci(energy_result(tl), HOURLY, SciConfig())
    # One number for the whole run (time-weighted mean of the run's span) would be wrong:
    time_weighted = (30 * 100 + 60 * 300 + 15 * 50) / 105
    assert res.operational_g != pytest.approx(4.0 * time_weighted, rel=1e-3)
    assert res.mean_intensity_g_per_kwh == pytest.approx(grams / 4.0)
    assert [i.to_dict()["operational_g"] for i in res.intervals] == pytest.approx([200.0, grams - 200.0])


def test_pue_multiplies_energy_and_operational_carbon():
    tl = [EnergyInterval(at(0), at(60), 2.0 * KWH)]
    res = compute_sci(energy_result(tl, pue=1.5), HOURLY, SciConfig())
    assert res.it_energy_kwh == pytest.approx(2.0)
    assert res.energy_kwh == pytest.approx(3.0)
    assert res.operational_g == pytest.approx(300.0)
    assert res.inputs.energy_kwh == pytest.approx(3.0)


def test_gap_after_last_point_uses_nearest_and_is_recorded():
    pts = series((at(0), at(60), 100.0))
    tl = [EnergyInterval(at(30), at(90), 1.0 * KWH)]  # 30 min covered at 100, 30 min uncovered
    res = compute_sci(energy_result(tl), pts, SciConfig())
    rec = res.intervals[0]
    assert rec.fill == "nearest" and rec.filled_s == pytest.approx(1800.0) and rec.fill_g_per_kwh == 100.0
    assert res.operational_g == pytest.approx(100.0)
    assert any("did not cover" in n and "nearest" in n for n in res.notes)


def test_gaps_on_both_sides_take_their_own_nearest_point():
    pts = series((at(0), at(30), 100.0), (at(30), at(60), 500.0))
    tl = [EnergyInterval(at(-30), at(90), 1.0 * KWH)]  # 30 min before (->100), 60 covered, 30 after (->500)
    grams, recs = integrate_operational_g(tl, pts.points)
    expected_g_per_kwh = (30 * 100 + 30 * 100 + 30 * 500 + 30 * 500) / 120
    assert recs[0].g_per_kwh == pytest.approx(expected_g_per_kwh)
    assert recs[0].filled_s == pytest.approx(3600.0)
    assert recs[0].fill_g_per_kwh == pytest.approx(300.0)  # mean of the two fills


def test_no_points_uses_default_or_fails_clearly():
    tl = [EnergyInterval(at(0), at(60), 1.0 * KWH)]
    empty = series()
    res = compute_sci(energy_result(tl), empty, SciConfig(default_intensity_g_per_kwh=250.0))
    assert res.operational_g == pytest.approx(250.0)
    assert res.intervals[0].fill == "default"
    assert any("default" in n for n in res.notes)
    with pytest.raises(SciError, match="default_intensity_g_per_kwh"):
        compute_sci(energy_result(tl), empty, SciConfig())


def test_zero_length_interval_takes_the_containing_point():
    tl = [EnergyInterval(at(70), at(70), 0.1 * KWH)]
    grams, recs = integrate_operational_g(tl, HOURLY.points)
    assert recs[0].g_per_kwh == 300.0 and grams == pytest.approx(30.0) and recs[0].fill is None


def test_naive_datetimes_are_refused():
    naive = EnergyInterval(datetime(2024, 1, 1), datetime(2024, 1, 1, 1), KWH)
    with pytest.raises(ValueError, match="timezone"):
        integrate_operational_g([naive], HOURLY.points)


def test_timeline_is_scaled_to_component_total_with_note():
    tl = [EnergyInterval(at(0), at(60), 1.0 * KWH), EnergyInterval(at(60), at(120), 1.0 * KWH)]
    comps = [ComponentEnergy("gpu", "GPU-0", 4.0 * KWH, "nvml_energy_counter", "measured")]
    res = compute_sci(energy_result(tl, components=comps), HOURLY, SciConfig())
    assert res.energy_kwh == pytest.approx(4.0)
    assert res.operational_g == pytest.approx(2.0 * 100 + 2.0 * 300)  # shape kept, total from components
    assert any("scaled" in n for n in res.notes)


def test_empty_timeline_falls_back_to_one_interval_with_note():
    comps = [ComponentEnergy("cpu", "host", 1.0 * KWH, "cpu_time_tdp_estimate", "estimated")]
    e = EnergyResult(started_at=at(0), ended_at=at(120), duration_s=7200.0, components=comps, timeline=[])
    res = compute_sci(e, HOURLY, SciConfig())
    assert res.operational_g == pytest.approx(200.0)
    assert res.energy_quality == "estimated"
    assert any("timeline was empty" in n for n in res.notes)


# ------------------------------------------------------------------ M, R, cost


def test_embodied_on_matches_formula():
    tl = [EnergyInterval(at(0), at(60), 1.0 * KWH)]
    cfg = SciConfig(embodied_total_kg=1000.0, lifespan_years=4.0, resources_reserved=1, resources_total=4)
    res = compute_sci(energy_result(tl), HOURLY, cfg)
    hand = 1000 * 1000 * (3600 / (4 * 365 * 86400)) * (1 / 4)
    assert res.embodied_g == pytest.approx(hand)
    assert embodied_g(1000.0, 3600.0, 4.0, 1, 4) == pytest.approx(hand)
    assert res.embodied.in_scope and res.embodied.tir_s == 3600.0
    assert res.sci == pytest.approx(100.0 + hand)
    assert res.carbon_g == pytest.approx(100.0 + hand)


def test_embodied_matches_the_sci_specification_worked_example():
    # SCI specification, "Embodied emissions" worked example: TE = 1000 kg (1,000,000 g),
    # TiR = 1 h = 3600 s, EL = 4 years = 4 x 365 x 86,400 s = 126,144,000 s, RR / ToR = 1:
    # M = 1,000,000 x 3600 / 126,144,000 = 28.538812785... g (the spec prints 28.5388 g).
    assert SECONDS_PER_YEAR * 4 == 126_144_000
    assert embodied_g(1000.0, 3600.0, 4.0) == pytest.approx(28.538812785388128, rel=1e-12, abs=1e-9)
    assert round(embodied_g(1000.0, 3600.0, 4.0), 4) == 28.5388


def test_embodied_off_by_default_says_out_of_scope():
    tl = [EnergyInterval(at(0), at(60), 1.0 * KWH)]
    res = compute_sci(energy_result(tl), HOURLY, SciConfig())
    assert res.embodied_g == 0.0 and not res.embodied.in_scope
    assert "out of scope" in res.embodied.statement


def test_functional_units_epoch_and_1000_images():
    tl = [EnergyInterval(at(0), at(60), 1.0 * KWH)]
    e = energy_result(tl, epochs=4, images=50_000)
    res = compute_sci(e, HOURLY, SciConfig(functional_unit="epoch"))
    assert res.sci_per["job"] == pytest.approx(100.0)
    assert res.sci_per["epoch"] == pytest.approx(25.0)
    assert res.sci_per["1000_images"] == pytest.approx(100.0 / 50.0)
    assert res.sci == pytest.approx(25.0) and res.sci_unit == "gCO2e/epoch"
    assert res.inputs.score() == pytest.approx(res.sci)
    res2 = compute_sci(e, HOURLY, SciConfig(functional_unit="1000_images"))
    assert res2.sci == pytest.approx(2.0) and res2.sci_unit == "gCO2e/1000 images"


def test_zero_epochs_falls_back_to_job_with_note():
    tl = [EnergyInterval(at(0), at(60), 1.0 * KWH)]
    res = compute_sci(energy_result(tl, epochs=0, images=0), HOURLY, SciConfig(functional_unit="epoch"))
    assert res.functional_unit == "job" and res.sci == pytest.approx(100.0)
    assert res.sci_per["epoch"] is None and res.sci_per["1000_images"] is None
    assert any("headline SCI is per job" in n for n in res.notes)


def test_cost_is_hours_times_price():
    tl = [EnergyInterval(at(0), at(30), 0.1 * KWH)]
    assert compute_sci(energy_result(tl), HOURLY, SciConfig()).cost_usd == pytest.approx(0.5 * 1.204)
    assert compute_sci(
        energy_result(tl), HOURLY, SciConfig(price_per_hour_usd=3.0)
    ).cost_usd == pytest.approx(1.5)


def test_mixed_quality_and_fallbacks_are_recorded():
    tl = [EnergyInterval(at(0), at(60), 1.0 * KWH)]
    comps = [
        ComponentEnergy("gpu", "GPU-0", 0.8 * KWH, "nvml_energy_counter", "measured"),
        ComponentEnergy("cpu", "host", 0.2 * KWH, "cpu_time_tdp_estimate", "estimated"),
    ]
    fb = [{"provider": "watttime", "reason": "HTTP 401", "replaced_by": "static"}]
    res = compute_sci(energy_result(tl, components=comps), HOURLY, SciConfig(), fallbacks_used=fb)
    assert res.energy_quality == "mixed"
    assert res.fallbacks == fb and res.fallbacks is not fb
    assert any("watttime -> static" in n for n in res.notes)


def test_dictconfig_settings_are_accepted():
    tl = [EnergyInterval(at(0), at(60), 1.0 * KWH)]
    cfg = OmegaConf.structured(SciConfig(functional_unit="job", embodied_total_kg=100.0, lifespan_years=1.0))
    res = compute_sci(energy_result(tl), HOURLY, cfg)
    assert res.embodied_g == pytest.approx(100_000 * 3600 / SECONDS_PER_YEAR)


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    "kwargs, setting",
    [
        ({"functional_unit": "batch"}, "sci.functional_unit"),
        ({"embodied_total_kg": 100.0}, "sci.lifespan_years"),
        ({"lifespan_years": 4.0}, "sci.embodied_total_kg"),
        ({"embodied_total_kg": -5.0, "lifespan_years": 4.0}, "sci.embodied_total_kg"),
        ({"embodied_total_kg": 5.0, "lifespan_years": 0.0}, "sci.lifespan_years"),
        ({"resources_reserved": 0.0}, "sci.resources_reserved"),
        ({"resources_total": -1.0}, "sci.resources_total"),
        ({"resources_reserved": 4.0, "resources_total": 2.0}, "sci.resources_reserved"),
        ({"price_per_hour_usd": -1.0}, "sci.price_per_hour_usd"),
        ({"default_intensity_g_per_kwh": -3.0}, "sci.default_intensity_g_per_kwh"),
    ],
)
def test_validation_errors_name_the_setting(kwargs, setting):
    with pytest.raises(ConfigError, match=setting.replace(".", r"\.")):
        coerce(SciConfig, kwargs, "sci")


def test_shipped_sci_configs_compose_and_validate():
    names = sorted(p.stem for p in CONF_DIR.glob("*.yaml"))
    assert {"default", "t4_case_study", "gpu_server_embodied"} <= set(names)
    for name in names:
        cfg = OmegaConf.merge(OmegaConf.structured(SciConfig), OmegaConf.load(CONF_DIR / f"{name}.yaml"))
        coerce(SciConfig, cfg, "sci")
    t4 = OmegaConf.merge(OmegaConf.structured(SciConfig), OmegaConf.load(CONF_DIR / "t4_case_study.yaml"))
    assert t4.price_per_hour_usd == 1.204 and t4.embodied_total_kg is None and t4.functional_unit == "job"
    emb = OmegaConf.merge(
        OmegaConf.structured(SciConfig), OmegaConf.load(CONF_DIR / "gpu_server_embodied.yaml")
    )
    assert emb.embodied_total_kg > 0 and emb.lifespan_years > 0 and "illustrative" in emb.embodied_source
    # The example's comment promises 8.92 g for a 1-hour job (2.5e6 x 3600 / 126,144,000 / 8 = 8.9184):
    assert embodied_g(
        emb.embodied_total_kg, 3600, emb.lifespan_years, emb.resources_reserved, emb.resources_total
    ) == pytest.approx(8.92, abs=0.005)


# ------------------------------------------------------------------ real trace


@pytest.mark.skipif(not TRACE.exists(), reason="shared Electricity Maps trace not present")
def test_integration_matches_per_second_reference_on_real_trace():
    """Cross-check against an independent per-second integration over a real hourly trace
    (California ISO 2023, Electricity Maps data portal)."""
    start = datetime(2023, 6, 1, 10, 17, 23, tzinfo=UTC)
    pts = []
    with TRACE.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            t = datetime.fromisoformat(row["Datetime (UTC)"]).replace(tzinfo=UTC)
            if start - timedelta(hours=2) <= t <= start + timedelta(hours=5):
                pts.append(
                    IntensityPoint(t, t + timedelta(hours=1), float(row["Carbon Intensity gCO₂eq/kWh (LCA)"]))
                )
    assert len(pts) >= 6
    # 7-minute intervals, varying power: 150 W + 10 W x index
    tl, t = [], start
    for k in range(25):
        nxt = t + timedelta(minutes=7)
        tl.append(EnergyInterval(t, nxt, (150.0 + 10 * k) * 420.0))
        t = nxt
    grams, _ = integrate_operational_g(tl, pts)
    ref = 0.0
    for k, iv in enumerate(tl):
        power_w = 150.0 + 10 * k
        for s in range(420):
            instant = iv.start + timedelta(seconds=s)
            g = next(p.g_per_kwh for p in pts if p.start <= instant < p.end)
            ref += power_w / KWH * g
    assert grams == pytest.approx(ref, rel=1e-9)
    assert not math.isclose(grams, sum(i.energy_j for i in tl) / KWH * pts[0].g_per_kwh, rel_tol=1e-3)


def test_compute_sci_coerces_dict_settings_and_refuses_bad_ones():
    tl = [EnergyInterval(at(0), at(30), 0.5 * KWH)]
    from_dict = compute_sci(energy_result(tl), HOURLY, {"price_per_hour_usd": 2.0})
    assert from_dict.cost_usd == pytest.approx(1.0) and from_dict.functional_unit == "job"
    with pytest.raises(ConfigError, match=r"sci\.functional_unit"):
        compute_sci(energy_result(tl), HOURLY, {"functional_unit": "batch"})
    with pytest.raises(ConfigError, match=r"sci\.lifespan_years"):
        compute_sci(energy_result(tl), HOURLY, SciConfig(embodied_total_kg=100.0))
