"""The SCI arithmetic (sci/compute.py): plain numbers, checked by hand."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sci_lightning.carbon.base import IntensityPoint
from sci_lightning.energy.base import EnergyInterval
from sci_lightning.sci.compute import (
    IntervalCarbon,
    SciError,
    headline_unit,
    integrate_operational_g,
    mean_intensity_g_per_kwh,
    sci_per_unit,
)

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
KWH = 3.6e6


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_interval_is_charged_the_overlap_weighted_intensity():
    pts = [IntensityPoint(at(0), at(30), 100.0), IntensityPoint(at(30), at(60), 300.0)]
    total, (rec,) = integrate_operational_g([EnergyInterval(at(15), at(45), 2 * KWH)], pts, pue=1.5)
    assert rec.g_per_kwh == pytest.approx(200.0) and rec.energy_kwh == pytest.approx(3.0)
    assert total == pytest.approx(600.0) and rec.fill is None and rec.filled_s == 0.0


def test_gaps_take_the_nearest_point_and_say_so():
    pts = [IntensityPoint(at(0), at(10), 100.0)]
    _, (rec,) = integrate_operational_g([EnergyInterval(at(0), at(20), KWH)], pts)
    assert rec.fill == "nearest" and rec.filled_s == 600.0 and rec.fill_g_per_kwh == 100.0
    assert rec.g_per_kwh == pytest.approx(100.0)


def test_overlapping_points_are_not_double_counted():
    pts = [IntensityPoint(at(0), at(10), 100.0), IntensityPoint(at(0), at(10), 300.0)]
    _, (rec,) = integrate_operational_g([EnergyInterval(at(0), at(10), KWH)], pts)
    assert rec.g_per_kwh == pytest.approx(200.0)


def test_zero_length_interval_takes_the_containing_point_or_the_default():
    pts = [IntensityPoint(at(0), at(10), 100.0)]
    _, (rec,) = integrate_operational_g([EnergyInterval(at(5), at(5), 0.0)], pts)
    assert rec.g_per_kwh == 100.0 and rec.fill is None
    _, (rec,) = integrate_operational_g([EnergyInterval(at(5), at(5), 0.0)], [], default_g_per_kwh=42.0)
    assert (rec.g_per_kwh, rec.fill, rec.fill_g_per_kwh) == (42.0, "default", 42.0)


def test_no_points_and_no_default_is_an_error():
    with pytest.raises(SciError, match="no usable carbon-intensity points"):
        integrate_operational_g([EnergyInterval(at(0), at(1), 1.0)], [])


def test_mean_intensity_is_energy_weighted_or_time_weighted_at_zero_energy():
    recs = [IntervalCarbon(at(0), at(10), 0.0, 100.0, 0.0), IntervalCarbon(at(10), at(40), 0.0, 300.0, 0.0)]
    assert mean_intensity_g_per_kwh(50.0, 0.25, recs) == 200.0
    assert mean_intensity_g_per_kwh(0.0, 0.0, recs) == pytest.approx(250.0)
    assert mean_intensity_g_per_kwh(0.0, 0.0, []) == 0.0


def test_sci_per_unit_and_headline():
    per = sci_per_unit(12.0, {"job": 1.0, "epoch": 3.0, "1000_images": 0.0})
    assert per == {"job": 12.0, "epoch": 4.0, "1000_images": None}
    assert headline_unit("epoch", per) == "epoch"
    assert headline_unit("1000_images", per) == "job" and headline_unit("pflop", per) == "job"
