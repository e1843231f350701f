"""energy/_common.py: the host name of host-level meters and the warn-once fault log (bounded notes)."""

from __future__ import annotations

import socket
import sys
import warnings

import pytest

from sci_lightning.energy import _common
from sci_lightning.energy._common import MAX_NOTES, EnergyMeterWarning, FaultLog, add_note, hostname


def test_hostname_is_the_machines_name_read_once(monkeypatch):
    _common.hostname.cache_clear()
    calls = []
    monkeypatch.setattr(socket, "gethostname", lambda: calls.append(1) or "node-7")
    try:
        assert hostname() == "node-7" and hostname() == "node-7" and len(calls) == 1
    finally:
        _common.hostname.cache_clear()


def test_a_host_without_a_name_is_localhost(monkeypatch):
    _common.hostname.cache_clear()
    monkeypatch.setattr(socket, "gethostname", lambda: "")
    try:
        assert hostname() == "localhost"
    finally:
        _common.hostname.cache_clear()


def test_add_note_keeps_each_note_once_in_order():
    notes: list[str] = []
    for note in ("a", "b", "a", "c", "b"):
        add_note(notes, note)
    assert notes == ["a", "b", "c"]


def test_add_note_is_bounded_and_says_that_it_left_notes_out():
    notes: list[str] = []
    for i in range(MAX_NOTES + 5):
        add_note(notes, f"fault {i}")
    assert MAX_NOTES == 20 and len(notes) == MAX_NOTES
    assert notes[:-1] == [f"fault {i}" for i in range(MAX_NOTES - 1)]
    assert notes[-1] == "further notes omitted"


def test_fault_warns_once_per_meter_and_records_every_reason():
    log = FaultLog("GPU energy (NVML)")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for reason in ("counter unreadable", "device lost", "counter unreadable"):
            log.fault(reason)
    assert [w.category for w in seen] == [EnergyMeterWarning]
    assert [str(w.message) for w in seen] == ["GPU energy (NVML): counter unreadable"]
    assert log.notes == ["counter unreadable", "device lost"]
    assert issubclass(EnergyMeterWarning, UserWarning)


def test_a_second_meter_warns_on_its_own():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for label in ("a", "b"):
            FaultLog(label).fault("x")
    assert [str(w.message) for w in seen] == ["a: x", "b: x"]


def test_fault_without_warning_only_records():
    log = FaultLog("RAM")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log.fault("quiet reason", warn=False)
    assert log.notes == ["quiet reason"]


def test_the_warning_points_at_the_code_that_drove_the_meter():
    """A meter calls ``fault`` from its own method; the warning names that method's caller."""
    log = FaultLog("meter")

    def read_j() -> None:  # the meter's method
        log.fault("broke")

    line = sys._getframe().f_lineno + 2  # the read_j() call below
    with pytest.warns(EnergyMeterWarning) as seen:
        read_j()
    assert seen[0].filename == __file__ and seen[0].lineno == line
