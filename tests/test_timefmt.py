"""The time and duration formats (sci_lightning/timefmt.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sci_lightning import timefmt as tf

CET = timezone(timedelta(hours=1))
T = datetime(2026, 12, 3, 15, 5, 7, 250_600, tzinfo=CET)  # 14:05:07.2506 UTC


def test_timestamps_are_written_in_utc():
    assert tf.iso_utc(T) == "2026-12-03T14:05:07.250600+00:00"
    assert tf.iso_z(T) == "2026-12-03T14:05:07.250600Z"
    assert tf.iso_z(T, timespec="seconds") == "2026-12-03T14:05:07Z"
    assert tf.iso_seconds_z(T) == "2026-12-03T14:05:07Z"
    assert tf.iso_millis_z(T) == "2026-12-03T14:05:07.250Z"
    assert tf.utc_minutes(T) == "2026-12-03 14:05 UTC"


def test_a_naive_time_is_taken_as_utc():
    naive = datetime(2026, 1, 2, 3, 4, 5)
    assert tf.iso_seconds_z(naive) == "2026-01-02T03:04:05Z"
    assert tf.iso_millis_z(naive) == "2026-01-02T03:04:05.000Z"


@pytest.mark.parametrize(
    ("td", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(days=1, seconds=5), "1d5s"),
        (timedelta(minutes=2), "2m"),
    ],
)
def test_duration_compact(td, text):
    assert tf.duration_compact(td) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "n/a"),
        (float("nan"), "n/a"),
        (True, "n/a"),
        (4.25, "4.25 s"),
        (42, "42 s"),
        (185, "3 min 05 s"),
        (7620, "2 h 07 min"),
    ],
)
def test_duration_words(seconds, text):
    assert tf.duration_words(seconds) == text


@pytest.mark.parametrize(("seconds", "text"), [(-3, "0s"), (42.4, "42s"), (185, "3m05s"), (7440, "2h04m")])
def test_duration_short(seconds, text):
    assert tf.duration_short(seconds) == text


def test_countdown_rounds_up_and_never_goes_negative():
    assert tf.countdown(timedelta(hours=1, minutes=2, seconds=2, milliseconds=1)) == "1:02:03"
    assert tf.countdown(timedelta(seconds=-5)) == "0:00:00"
