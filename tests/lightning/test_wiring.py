"""Companion callbacks get the energy callback through their constructors, and the order they
rely on is checked in ``setup``, before training, with the fix in the message."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from scripted import ScriptClock, ScriptedModule

from sci_lightning.errors import ConfigError
from sci_lightning.lightning.carbon_budget import CarbonBudget
from sci_lightning.lightning.progress import ProgressLines
from sci_lightning.lightning.slot_schedule import SlotSchedule
from tests.e2e.test_accounting_matrix import _cb, _trainer


def test_carbon_budget_before_the_energy_callback_is_refused(tmp_path):
    clock = ScriptClock()
    cb = _cb(clock, tmp_path)
    budget = CarbonBudget({"budget_kwh": 1.0}, energy=cb)
    with pytest.raises(ConfigError, match="CarbonBudget must come after the EnergyCarbonCallback"):
        _trainer(tmp_path, [budget, cb]).fit(ScriptedModule(clock))
    assert clock.now == ScriptClock().now  # refused before any training step


def test_slot_schedule_after_the_energy_callback_is_refused(tmp_path):
    clock = ScriptClock()
    cb = _cb(clock, tmp_path)
    start = datetime(2027, 1, 15, tzinfo=timezone.utc)
    slots = SlotSchedule([(start, start + timedelta(hours=1))], deadline=start + timedelta(hours=2))
    with pytest.raises(ConfigError, match="SlotSchedule must come before the EnergyCarbonCallback"):
        _trainer(tmp_path, [cb, slots]).fit(ScriptedModule(clock))


def test_an_energy_callback_given_but_not_in_the_trainer_is_refused(tmp_path):
    clock = ScriptClock()
    cb = _cb(clock, tmp_path)
    budget = CarbonBudget({"budget_kwh": 1.0}, energy=cb)
    with pytest.raises(ConfigError, match="not in this Trainer's callbacks"):
        _trainer(tmp_path, [budget]).fit(ScriptedModule(clock))


def test_progress_lines_read_the_energy_callback_they_were_given(tmp_path):
    import io

    clock = ScriptClock()
    cb, stream = _cb(clock, tmp_path), io.StringIO()
    _trainer(tmp_path, [ProgressLines(stream, energy=cb), cb], max_epochs=2).fit(ScriptedModule(clock))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and all("energy" in line for line in lines), lines
