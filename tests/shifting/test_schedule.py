"""Schedule modes (sci_lightning.shifting.schedule) with an injected clock: no real sleeping."""

from __future__ import annotations

import io
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from omegaconf import OmegaConf

from sci_lightning.carbon.base import IntensityPoint, IntensityProvider, IntensitySeries, ProviderError
from sci_lightning.errors import ConfigError
from sci_lightning.settings import ScheduleConfig
from sci_lightning.shifting.history import DurationEstimate
from sci_lightning.shifting.planner import plan_best_start
from sci_lightning.shifting.schedule import (
    ScheduleOutcome,
    WaitCancelled,
    before_training,
    plan_after_first_epoch,
    wait_for_best_start,
)
from sci_lightning.shifting.slurm import slurm_begin_relative, slurm_begin_time

UTC = timezone.utc
T0 = datetime(2024, 6, 1, 0, 0, tzinfo=UTC)
CONF = Path(__file__).resolve().parents[2] / "conf" / "schedule"


class FakeTime:
    """A clock that only moves when ``sleep`` is called."""

    def __init__(self, t: datetime):
        self.t = t
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.t

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.t += timedelta(seconds=seconds)


class FakeProvider(IntensityProvider):
    """Hourly forecast from ``values_at(now)``; the forecast is re-issued every ``issue_every``."""

    name = "fake"
    region = "XX"
    signal_type = "marginal"

    def __init__(self, clock: FakeTime, values_at, issue_every=timedelta(hours=1), fail=False):
        self.clock = clock
        self.values_at = values_at
        self.issue_every = issue_every
        self.fail = fail
        self.calls = 0

    def history(self, start, end):  # pragma: no cover - unused
        raise NotImplementedError

    def forecast(self, start=None, horizon=timedelta(hours=24)):
        self.calls += 1
        if self.fail:
            raise ProviderError(self.name, "service down.", "try later.")
        now = self.clock.now()
        issued = T0 + ((now - T0) // self.issue_every) * self.issue_every
        values = self.values_at(issued)
        pts = [
            IntensityPoint(T0 + timedelta(hours=i), T0 + timedelta(hours=i + 1), v)
            for i, v in enumerate(values)
        ]
        return IntensitySeries(pts, "fake", "XX", "marginal", "forecast", generated_at=issued)


def flat_with_dip(dip_at_h: int, n: int = 30):
    return [100.0 if dip_at_h <= i < dip_at_h + 2 else 400.0 for i in range(n)]


def cfg(**kw):
    base = dict(
        mode="wait", window_h=24.0, max_wait="24h", replan_every="30m", log_every="10m", align="points"
    )
    base.update(kw)
    return OmegaConf.structured(ScheduleConfig(**base))


# --------------------------------------------------------------------------- config files


@pytest.mark.parametrize("name", ["none", "report", "wait", "slurm"])
def test_schedule_yaml_matches_schema(name):
    node = OmegaConf.merge(OmegaConf.structured(ScheduleConfig), OmegaConf.load(CONF / f"{name}.yaml"))
    assert node.mode == name


def test_none_mode_fetches_nothing():
    clock = FakeTime(T0)
    prov = FakeProvider(clock, lambda _: flat_with_dip(5))
    out = before_training(cfg(mode="none"), prov, duration="2h", clock=clock.now, sleep=clock.sleep)
    assert out.reason == "disabled" and out.plan is None and prov.calls == 0 and clock.sleeps == []
    assert out.findings(1.0) is None


def test_unknown_mode_and_bad_durations_are_config_errors():
    clock = FakeTime(T0)
    prov = FakeProvider(clock, lambda _: flat_with_dip(5))
    with pytest.raises(ConfigError, match="schedule.mode"):
        before_training(cfg(mode="later"), prov, duration="2h", clock=clock.now, sleep=clock.sleep)
    with pytest.raises(ConfigError, match="schedule.duration"):
        before_training(cfg(mode="report"), prov, duration="2 hours", clock=clock.now, sleep=clock.sleep)
    with pytest.raises(ConfigError, match="schedule.max_wait"):
        before_training(cfg(max_wait="soon"), prov, duration="2h", clock=clock.now, sleep=clock.sleep)
    with pytest.raises(ConfigError, match="schedule.window_h"):
        before_training(cfg(window_h=0.0), prov, duration="2h", clock=clock.now, sleep=clock.sleep)
    assert prov.calls == 0


@pytest.mark.parametrize(
    "settings",
    [
        {"mode": "report", "window_h": 12},
        ScheduleConfig(mode="report", window_h=12.0),
        OmegaConf.create({"mode": "report", "window_h": 12}),
    ],
    ids=["dict", "ScheduleConfig", "DictConfig"],
)
def test_settings_as_dict_dataclass_or_node_plan_alike(settings):
    clock = FakeTime(T0)
    prov = FakeProvider(clock, lambda _: flat_with_dip(5))
    out = before_training(settings, prov, duration="2h", clock=clock.now, sleep=clock.sleep)
    assert out.mode == "report" and out.plan.best_start == T0 + timedelta(hours=5)
    assert out.plan.window_end == T0 + timedelta(hours=12)
    later = plan_after_first_epoch(settings, prov, actual_start=T0, duration=timedelta(hours=2))
    assert later.plan.best_start == T0 + timedelta(hours=5) and later.duration_source == "first_epoch"


def test_misspelt_setting_is_refused_by_name():
    clock = FakeTime(T0)
    prov = FakeProvider(clock, lambda _: flat_with_dip(5))
    with pytest.raises(ConfigError, match=r"schedule\.windw_h.*Did you mean schedule\.window_h"):
        before_training(
            {"mode": "report", "windw_h": 12}, prov, duration="2h", clock=clock.now, sleep=clock.sleep
        )
    with pytest.raises(ConfigError, match=r"schedule\.mdoe"):
        plan_after_first_epoch({"mdoe": "report"}, prov, actual_start=T0, duration=timedelta(hours=2))
    assert prov.calls == 0


# --------------------------------------------------------------------------- report


def test_report_runs_now_and_reports_the_saving():
    clock = FakeTime(T0 + timedelta(minutes=10))
    prov = FakeProvider(clock, lambda _: flat_with_dip(5))
    out = before_training(
        cfg(mode="report"),
        prov,
        duration=DurationEstimate(timedelta(hours=2), "config"),
        clock=clock.now,
        sleep=clock.sleep,
    )
    assert out.reason == "no_shift" and clock.sleeps == [] and out.started_at == clock.now()
    assert out.plan.best_start == T0 + timedelta(hours=5)
    f = out.findings(energy_kwh=3.0)
    assert f["actual_window_mean_g_per_kwh"] == pytest.approx(400.0)
    assert f["best_window_mean_g_per_kwh"] == pytest.approx(100.0)
    assert f["saving_g"] == pytest.approx(3.0 * 300.0) and f["saving_pct"] == pytest.approx(75.0)
    assert f["mode"] == "report" and f["duration_source"] == "config"


def test_provider_fault_starts_now_and_is_recorded(caplog):
    clock = FakeTime(T0)
    prov = FakeProvider(clock, lambda _: flat_with_dip(5), fail=True)
    with caplog.at_level(logging.WARNING, logger="sci_lightning.shifting.schedule"):
        out = before_training(cfg(mode="wait"), prov, duration="2h", clock=clock.now, sleep=clock.sleep)
    assert out.reason == "planning_failed" and out.plan is None and clock.sleeps == []
    assert "service down" in out.notes[0] and "service down" in caplog.text


def test_unusable_forecast_starts_now():
    clock = FakeTime(T0)
    prov = FakeProvider(clock, lambda _: [100.0] * 3)  # 3 h forecast, 5 h job
    out = before_training(cfg(mode="report"), prov, duration="5h", clock=clock.now, sleep=clock.sleep)
    assert out.reason == "planning_failed" and "forecast horizon" in out.notes[0]


def test_no_duration_defers_to_first_epoch():
    clock = FakeTime(T0)
    prov = FakeProvider(clock, lambda _: flat_with_dip(5))
    out = before_training(cfg(mode="wait"), prov, duration=None, clock=clock.now, sleep=clock.sleep)
    assert out.reason == "deferred" and prov.calls == 0 and clock.sleeps == []
    later = plan_after_first_epoch(
        cfg(mode="wait"),
        prov,
        actual_start=T0,
        duration=DurationEstimate(timedelta(hours=2), "first_epoch"),
        clock=clock.now,
    )
    assert later.plan.best_start == T0 + timedelta(hours=5) and later.started_at == T0
    assert later.findings(1.0)["saving_g"] == pytest.approx(300.0)
    assert any("first epoch" in n for n in later.notes)


def test_provider_factory_is_called_lazily():
    clock = FakeTime(T0)
    built = []

    def factory():
        built.append(1)
        return FakeProvider(clock, lambda _: flat_with_dip(5))

    before_training(cfg(mode="none"), factory, duration="2h", clock=clock.now, sleep=clock.sleep)
    assert built == []
    before_training(cfg(mode="report"), factory, duration="2h", clock=clock.now, sleep=clock.sleep)
    assert built == [1]


# --------------------------------------------------------------------------- wait


def test_wait_starts_at_the_planned_time_with_log_countdown(caplog):
    clock = FakeTime(T0 + timedelta(minutes=10))
    prov = FakeProvider(clock, lambda _: flat_with_dip(5), issue_every=timedelta(days=10))
    stream = io.StringIO()
    with caplog.at_level(logging.INFO, logger="sci_lightning.shifting.schedule"):
        out = before_training(
            cfg(), prov, duration="2h", clock=clock.now, sleep=clock.sleep, stream=stream, isatty=False
        )
    assert out.reason == "best_start"
    assert out.started_at == T0 + timedelta(hours=5) == clock.now()
    assert out.waited_s == pytest.approx(4 * 3600 + 50 * 60)
    assert sum(clock.sleeps) == pytest.approx(out.waited_s)
    assert max(clock.sleeps) <= 30 * 60  # never sleeps past a re-plan time
    countdown = [r for r in caplog.records if "left" in r.getMessage()]
    assert len(countdown) >= 20  # one line per 10 min over 4 h 50 min
    assert "Waiting for the low-carbon start 2024-06-01 05:00 UTC" in countdown[0].getMessage()
    assert stream.getvalue() == ""  # no terminal: nothing drawn on the stream
    assert out.replans == 0  # the forecast never changed (same generated_at)


def test_wait_on_a_tty_draws_one_updating_line():
    clock = FakeTime(T0 + timedelta(hours=4, minutes=59, seconds=55))
    prov = FakeProvider(clock, lambda _: flat_with_dip(5), issue_every=timedelta(days=10))
    stream = io.StringIO()
    out = before_training(
        cfg(), prov, duration="2h", clock=clock.now, sleep=clock.sleep, stream=stream, isatty=True
    )
    text = stream.getvalue()
    assert out.started_at == T0 + timedelta(hours=5)
    assert text.count("\r") == 5 and text.endswith("\n") and text.count("\n") == 1
    assert "0:00:05 left" in text and "0:00:01 left" in text


def test_wait_replans_when_a_fresher_forecast_arrives():
    clock = FakeTime(T0)

    def values(issued):  # first forecast: dip at 10:00; after 2 h a new forecast moves it to 03:00
        return flat_with_dip(10) if issued < T0 + timedelta(hours=2) else flat_with_dip(3)

    prov = FakeProvider(clock, values, issue_every=timedelta(hours=1))
    out = before_training(
        cfg(replan_every="30m"), prov, duration="2h", clock=clock.now, sleep=clock.sleep, isatty=False
    )
    assert out.plan.best_start == T0 + timedelta(hours=3)
    assert out.started_at == T0 + timedelta(hours=3)
    assert out.replans == 2  # issued 01:00 (same dip) and 02:00 (new dip)
    assert any("re-planned" in n for n in out.notes)
    assert prov.calls == 1 + 5  # initial + at 00:30, 01:00, 01:30, 02:00, 02:30 (03:00 starts)


def test_wait_replan_failure_keeps_the_plan():
    clock = FakeTime(T0)
    prov = FakeProvider(clock, lambda _: flat_with_dip(4))
    plan = plan_best_start(prov.forecast(), "2h", now=T0)
    calls = []

    def replan(now):
        calls.append(now)
        raise ProviderError("fake", "down")

    out = wait_for_best_start(
        plan,
        replan,
        max_wait=timedelta(hours=24),
        replan_every=timedelta(hours=1),
        clock=clock.now,
        sleep=clock.sleep,
        isatty=False,
    )
    assert out.started_at == T0 + timedelta(hours=4) and len(calls) == 3
    assert sum("re-planning failed" in n for n in out.notes) == 1  # recorded once


def test_wait_never_waits_past_max_wait():
    clock = FakeTime(T0)
    prov = FakeProvider(clock, lambda _: flat_with_dip(12), issue_every=timedelta(days=10))
    out = before_training(
        cfg(max_wait="3h"), prov, duration="2h", clock=clock.now, sleep=clock.sleep, isatty=False
    )
    assert out.started_at <= T0 + timedelta(hours=3)
    assert out.plan.best_start <= T0 + timedelta(hours=3)  # only starts within max_wait were considered
    # a plan (e.g. a re-plan) beyond the limit is cut at max_wait
    clock2 = FakeTime(T0)
    far = plan_best_start(FakeProvider(clock2, lambda _: flat_with_dip(12)).forecast(), "2h", now=T0)
    out2 = wait_for_best_start(
        far,
        None,
        max_wait=timedelta(hours=3),
        replan_every=timedelta(hours=1),
        clock=clock2.now,
        sleep=clock2.sleep,
        isatty=False,
    )
    assert out2.reason == "max_wait" and out2.started_at == T0 + timedelta(hours=3)
    assert any("max_wait" in n for n in out2.notes)


def test_wait_when_now_is_best_does_not_sleep():
    clock = FakeTime(T0)
    prov = FakeProvider(clock, lambda _: flat_with_dip(0))
    out = before_training(cfg(), prov, duration="2h", clock=clock.now, sleep=clock.sleep)
    assert out.reason == "already_best" and clock.sleeps == []


def test_ctrl_c_while_waiting_exits_cleanly_without_training():
    clock = FakeTime(T0)
    prov = FakeProvider(clock, lambda _: flat_with_dip(6))
    stream = io.StringIO()
    ticks = []

    def sleep(s):
        ticks.append(s)
        if len(ticks) == 3:
            raise KeyboardInterrupt
        clock.sleep(s)

    trained = []

    def wait_then_train() -> None:
        before_training(cfg(), prov, duration="2h", clock=clock.now, sleep=sleep, stream=stream, isatty=True)
        trained.append(1)  # never reached

    with pytest.raises(WaitCancelled) as info:
        wait_then_train()
    assert trained == []
    assert isinstance(info.value, SystemExit) and info.value.code == 130
    assert "training not started" in stream.getvalue()


# --------------------------------------------------------------------------- slurm


def test_slurm_begin_time_formats():
    plan = plan_best_start(FakeProvider(FakeTime(T0), lambda _: flat_with_dip(5)).forecast(), "2h", now=T0)
    assert slurm_begin_time(plan, tz=UTC) == "2024-06-01T05:00:00"
    assert slurm_begin_time(plan, tz="Europe/Berlin") == "2024-06-01T07:00:00"  # CEST
    assert slurm_begin_time(plan, tz=ZoneInfo("America/Los_Angeles")) == "2024-05-31T22:00:00"
    assert slurm_begin_time(T0 + timedelta(seconds=0.2), tz=UTC) == "2024-06-01T00:00:01"  # never early
    assert slurm_begin_relative(plan, now=T0) == "now+18000"
    assert slurm_begin_relative(plan, now=T0 + timedelta(hours=6)) == "now"


def test_slurm_mode_reports_and_gives_begin():
    clock = FakeTime(T0)
    prov = FakeProvider(clock, lambda _: flat_with_dip(5))
    out = before_training(cfg(mode="slurm"), prov, duration="2h", clock=clock.now, sleep=clock.sleep)
    assert out.reason == "no_shift" and clock.sleeps == []
    assert out.slurm_begin == slurm_begin_time(out.plan) and "--begin=" in out.notes[0]
    assert out.findings(1.0)["slurm_begin"] == out.slurm_begin


def test_outcome_is_a_plain_dataclass():
    out = ScheduleOutcome("none", "disabled")
    assert out.waited_s == 0 and out.notes == []
