"""app/schedule.py: the one dispatch of the schedule modes before the fit.

(Named apart from tests/test_schedule.py while tests/ is not a package.)

The modes themselves run end to end in tests/test_schedule.py (report, wait, slurm) and
tests/test_schedule_interrupt_app.py (interrupt, in real training runs).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from sci_lightning.app.schedule import schedule_before_fit
from sci_lightning.carbon.base import IntensityPoint, IntensityProvider, IntensitySeries
from sci_lightning.lightning.slot_schedule import SlotSchedule
from sci_lightning.settings import Config, ScheduleConfig

T0 = datetime(2024, 6, 1, tzinfo=timezone.utc)


class Forecasts(IntensityProvider):
    name, region, signal_type = "fake", "XX", "marginal"

    def __init__(self) -> None:
        self.calls = 0

    def history(self, start, end):
        return self.forecast(start, end - start)

    def forecast(self, start=None, horizon=timedelta(hours=24)):
        self.calls += 1
        values = [400.0] * 5 + [100.0] * 3 + [400.0] * 40
        pts = [
            IntensityPoint(T0 + timedelta(hours=i), T0 + timedelta(hours=i + 1), v)
            for i, v in enumerate(values)
        ]
        return IntensitySeries(pts, "fake", "XX", "marginal", "forecast", generated_at=T0)


def _settings(**schedule) -> Config:
    return replace(Config(), schedule=ScheduleConfig(**schedule))


def _never() -> timedelta:
    raise AssertionError("the duration was asked for although no mode plans")


def test_none_plans_nothing_and_asks_no_duration():
    prov = Forecasts()
    start = schedule_before_fit(_settings(mode="none"), prov, _never, None)
    assert start.outcome is None and start.slots is None and prov.calls == 0


@pytest.mark.parametrize("mode", ["report", "slurm"])
def test_report_and_slurm_go_through_the_library_dispatch(mode):
    start = schedule_before_fit(
        _settings(mode=mode), Forecasts(), lambda: timedelta(hours=2), None, clock=lambda: T0
    )
    assert start.slots is None and start.outcome is not None
    assert start.outcome.mode == mode and start.outcome.reason == "no_shift"
    assert (start.outcome.slurm_begin is not None) == (mode == "slurm")


def test_interrupt_plans_the_slots_and_returns_the_callback(capsys):
    start = schedule_before_fit(
        _settings(mode="interrupt", deadline="20h", min_slot="1h"),
        Forecasts(),
        lambda: timedelta(hours=2),
        None,
        clock=lambda: T0,
        sleep=lambda s: None,
    )
    assert start.outcome is None and start.slots is not None
    assert isinstance(start.slots.schedule, SlotSchedule)
    assert start.slots.plan is not None and start.slots.plan.slots[0].start == T0 + timedelta(hours=5)
    assert "slot 1" in capsys.readouterr().out  # the plan command's table


def test_a_mode_that_plans_needs_a_provider():
    with pytest.raises(Exception, match="needs an intensity provider"):
        schedule_before_fit(_settings(mode="report"), None, lambda: timedelta(hours=2), None)
