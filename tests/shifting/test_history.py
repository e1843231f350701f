"""The job's expected duration (sci_lightning.shifting.history): config, previous report, first epoch."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest

from sci_lightning.errors import ConfigError
from sci_lightning.shifting.history import (
    DurationEstimate,
    duration_from_first_epoch,
    duration_from_previous_report,
    resolve_duration,
)


def _report(path: Path, model: str, duration_s, mtime_s: float, **extra):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"model": model, "duration_s": duration_s, **extra}))
    os.utime(path, (mtime_s, mtime_s))


@pytest.fixture
def outputs(tmp_path):
    out = tmp_path / "outputs"
    _report(out / "runs/a/sci_report.json", "inception", 1000, 1_000_000, data={"batch_size": 64})
    _report(out / "runs/b/sci_report.json", "inception", 2000, 2_000_000, data={"batch_size": 32})
    _report(out / "runs/c/sci_report.json", "densenet", 3000, 3_000_000)
    (out / "runs/d").mkdir(parents=True)
    (out / "runs/d/sci_report.json").write_text("{not json")
    return out


def test_duration_from_previous_report(outputs, tmp_path):
    est = duration_from_previous_report(outputs, "inception")
    assert (
        est.duration == timedelta(seconds=2000) and est.source == "previous_report" and "runs/b" in est.detail
    )
    est = duration_from_previous_report(outputs, "inception", {"data.batch_size": 64})
    assert est.duration == timedelta(seconds=1000)
    assert duration_from_previous_report(outputs, "inception", {"data.batch_size": 128}) is None
    assert duration_from_previous_report(outputs, "vit") is None
    assert duration_from_previous_report(tmp_path / "nothing", "inception") is None


def test_reports_without_a_usable_duration_are_skipped(tmp_path):
    out = tmp_path / "outputs"
    for i, bad in enumerate([None, 0, -5, True, "600", float("nan")]):
        _report(out / f"bad{i}/sci_report.json", "vit", bad, 9_000_000 + i)
    (out / "list/sci_report.json").parent.mkdir(parents=True)
    (out / "list/sci_report.json").write_text("[1, 2]")
    assert duration_from_previous_report(out, "vit") is None
    _report(out / "good/sci_report.json", "vit", 600, 1_000)  # older, but the only usable one
    assert duration_from_previous_report(out, "vit").duration == timedelta(seconds=600)


def test_resolve_duration(outputs):
    assert resolve_duration(None, model="densenet", outputs_dir=outputs).duration == timedelta(seconds=3000)
    configured = resolve_duration("90m", model="densenet", outputs_dir=outputs)
    assert configured == DurationEstimate(timedelta(minutes=90), "config", "schedule.duration=90m")
    assert resolve_duration(None, model=None, outputs_dir=outputs) is None
    with pytest.raises(ConfigError, match="schedule.duration"):
        resolve_duration("soon", model="densenet", outputs_dir=outputs)


def test_duration_from_first_epoch():
    est = duration_from_first_epoch(120.0, 10, overhead_s=30)
    assert est.duration == timedelta(seconds=1230) and est.source == "first_epoch"
    with pytest.raises(ValueError):
        duration_from_first_epoch(0, 10)
    with pytest.raises(ValueError):
        duration_from_first_epoch(10, 0)
