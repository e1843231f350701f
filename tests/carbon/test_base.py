"""The carbon layer's base (sci_lightning.carbon.base): provider errors, the plausibility bound, UTC
times, series resolution and the default ``current``."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sci_lightning.carbon.base import (
    LBS_PER_MWH_TO_G_PER_KWH,
    MAX_PLAUSIBLE_G_PER_KWH,
    IntensityPoint,
    IntensityProvider,
    IntensitySeries,
    ProviderError,
    check_plausible,
    ensure_utc,
)
from sci_lightning.errors import SciLightningError

T0 = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


def test_a_provider_error_names_the_provider_and_the_fix_and_is_the_users_to_fix():
    err = ProviderError("watttime", "login refused (401).", "set WATTTIME_USERNAME and WATTTIME_PASSWORD.")
    assert str(err) == "[watttime] login refused (401). Fix: set WATTTIME_USERNAME and WATTTIME_PASSWORD."
    assert (err.provider, err.fix) == ("watttime", "set WATTTIME_USERNAME and WATTTIME_PASSWORD.")
    assert isinstance(err, SciLightningError) and isinstance(err, RuntimeError)
    assert str(ProviderError("static", "no row.")) == "[static] no row."


def test_a_provider_error_redacts_credentials_a_server_sent_back():
    err = ProviderError(
        "x", 'server said {"password": "hunter2-xyz"}', "retry with Authorization: Bearer abc.def.ghi"
    )
    assert "hunter2-xyz" not in str(err) and "abc.def.ghi" not in str(err)
    assert str(err).startswith("[x] server said") and "abc.def.ghi" not in err.fix


def test_one_pound_per_mwh_is_0_4536_g_per_kwh():
    assert pytest.approx(453.59237) == 1000.0 * LBS_PER_MWH_TO_G_PER_KWH


@pytest.mark.parametrize("value", [0.0, 250.5, MAX_PLAUSIBLE_G_PER_KWH])
def test_physical_values_pass(value):
    check_plausible([IntensityPoint(T0, T0 + HOUR, value)], "p")


@pytest.mark.parametrize(
    "value, shown",
    [(-226.8, "-226.8"), (453_592_370.0, "453,592,370.0"), (float("nan"), "nan"), ("12", "'12'")],
)
def test_an_implausible_value_is_refused_naming_it_the_time_and_the_region(value, shown):
    points = [IntensityPoint(T0, T0 + HOUR, 100.0), IntensityPoint(T0 + HOUR, T0 + 2 * HOUR, value)]
    with pytest.raises(ProviderError) as err:
        check_plausible(points, "em", region="DE")
    message = str(err.value)
    assert message.startswith(
        f"[em] implausible carbon intensity for DE: {shown} gCO2e/kWh at 2026-06-01T13:00:00+00:00"
    )
    assert "physical range 0-3,000 g/kWh" in message and "Fix: the provider sent wrong values" in message


def test_times_are_converted_to_utc_and_naive_ones_refused():
    cest = timezone(timedelta(hours=2))
    assert ensure_utc(datetime(2026, 6, 1, 14, tzinfo=cest)) == T0
    assert ensure_utc(T0).tzinfo is timezone.utc
    with pytest.raises(ValueError, match="start 2026-06-01T12:00:00 has no timezone"):
        ensure_utc(datetime(2026, 6, 1, 12), "start")


def test_a_series_resolution_is_its_first_points_length():
    series = IntensitySeries(
        [IntensityPoint(T0, T0 + timedelta(minutes=5), 1.0)], "s", "r", "average", "measured"
    )
    assert series.resolution == timedelta(minutes=5)
    assert IntensitySeries([], "s", "r", "average", "forecast").resolution is None


class _Hourly(IntensityProvider):
    """The last hour's history as given: points, or none."""

    name, region = "hourly", "XX"

    def __init__(self, values: list[float]) -> None:
        self.values, self.asked = values, []

    def history(self, start, end):
        self.asked.append(end - start)
        step = (end - start) / max(len(self.values), 1)
        points = [
            IntensityPoint(start + i * step, start + (i + 1) * step, v) for i, v in enumerate(self.values)
        ]
        return IntensitySeries(points, "test", self.region, "average", "measured")

    def forecast(self, start=None, horizon=timedelta(hours=24)):
        raise NotImplementedError


def test_current_is_the_last_point_of_the_last_hour():
    provider = _Hourly([300.0, 280.0, 260.0])
    assert provider.current().g_per_kwh == 260.0 and provider.asked == [HOUR]


def test_current_without_data_in_the_last_hour_names_the_region():
    with pytest.raises(ProviderError, match=r"\[hourly\] no intensity data for region 'XX' in the last hour"):
        _Hourly([]).current()
