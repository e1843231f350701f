"""Durations as people write them in settings (sci_lightning.shifting.durations): ``2h``, ``90m``,
``5400s``, ``1h30m``, ``1d``; bare numbers, zero and negatives refused in one line naming the setting."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sci_lightning.errors import ConfigError
from sci_lightning.shifting.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    "text,seconds",
    [
        ("2h", 7200),
        ("90m", 5400),
        ("5400s", 5400),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("1d", 86400),
        (" 2h 15m ", 8100),
        (timedelta(minutes=3), 180),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("bad", ["", "2", 5400, "2 hours", "h", "-1h", "0s", None, "1h30"])
def test_parse_duration_errors(bad):
    with pytest.raises(ConfigError, match="schedule.duration"):
        parse_duration(bad)


def test_format_duration():
    assert format_duration(timedelta(hours=1, minutes=30)) == "1h30m"
    assert format_duration(timedelta(seconds=3725)) == "1h2m5s"


@pytest.mark.parametrize(
    "value, message",
    [
        (
            "2",
            "Invalid setting schedule.max_wait='2': has no unit. Write the unit, e.g. schedule.max_wait=2s "
            "or schedule.max_wait=2m (units: d, h, m, s).",
        ),
        (
            5400,
            "Invalid setting schedule.max_wait=5400: has no unit. Write the unit, e.g. schedule.max_wait=5400s "
            "or schedule.max_wait=5400m (units: d, h, m, s).",
        ),
        (
            None,
            "Invalid setting schedule.max_wait=None: is not a duration. Give e.g. schedule.max_wait=2h, 90m, "
            "5400s or 1h30m.",
        ),
        (
            True,
            "Invalid setting schedule.max_wait=True: is not a duration. Give e.g. schedule.max_wait=2h, 90m, "
            "5400s or 1h30m.",
        ),
        (
            "2 hours",
            "Invalid setting schedule.max_wait='2 hours': is not a duration I can read. Use numbers with units "
            "d/h/m/s, e.g. schedule.max_wait=2h, 90m, 5400s or 1h30m.",
        ),
        (
            "0m",
            "Invalid setting schedule.max_wait='0m': must be longer than zero. Give a positive duration, "
            "e.g. schedule.max_wait=2h.",
        ),
    ],
)
def test_the_message_names_the_setting_the_problem_and_the_fix(value, message):
    with pytest.raises(ConfigError) as err:
        parse_duration(value, "schedule.max_wait")
    assert str(err.value) == message


def test_zero_only_where_allowed_and_negative_never():
    assert parse_duration("0s", "schedule.pause_cost", allow_zero=True) == timedelta(0)
    assert parse_duration(timedelta(0), allow_zero=True) == timedelta(0)
    with pytest.raises(ConfigError, match="must be longer than zero"):
        parse_duration(timedelta(seconds=-1), allow_zero=True)
    with pytest.raises(ConfigError, match="must be longer than zero"):
        parse_duration(timedelta(0))


@pytest.mark.parametrize(
    "text, seconds", [("2H", 7200), (".5h", 1800), ("1.h", 3600), ("1d2h3m4s", 93784), ("1h1h", 7200)]
)
def test_units_are_case_blind_and_parts_add_up(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "td", [timedelta(hours=2), timedelta(minutes=90), timedelta(days=1, seconds=5), timedelta(seconds=59)]
)
def test_format_duration_is_parsed_back(td):
    assert parse_duration(format_duration(td)) == td
    assert format_duration(timedelta(0)) == "0s"
