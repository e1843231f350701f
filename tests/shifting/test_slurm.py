"""``sbatch --begin`` values from a start time (shifting/slurm.py); the plan form is tested with
the planner in tests/shifting/test_schedule.py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sci_lightning.shifting.slurm import slurm_begin_relative, slurm_begin_time

START = datetime(2024, 1, 15, 12, 0, tzinfo=timezone.utc)


def test_begin_time_is_the_clusters_local_wall_clock():
    assert slurm_begin_time(START, tz=timezone.utc) == "2024-01-15T12:00:00"
    assert slurm_begin_time(START, tz="Europe/Berlin") == "2024-01-15T13:00:00"  # CET in January
    assert slurm_begin_time(START, tz=timezone(timedelta(hours=-5))) == "2024-01-15T07:00:00"


def test_begin_time_rounds_up_so_the_job_never_starts_early():
    assert slurm_begin_time(START + timedelta(microseconds=1), tz=timezone.utc) == "2024-01-15T12:00:01"


def test_relative_begin_counts_whole_seconds_up_and_says_now_when_due():
    assert slurm_begin_relative(START, now=START - timedelta(seconds=90.2)) == "now+91"
    assert slurm_begin_relative(START, now=START) == "now"
    assert slurm_begin_relative(START, now=START + timedelta(hours=1)) == "now"


def test_a_time_without_a_zone_is_refused():
    with pytest.raises(ValueError, match="begin time"):
        slurm_begin_time(datetime(2024, 1, 15, 12, 0))
