"""The words of an SCI result (sci/notes.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sci_lightning.energy.base import ComponentEnergy, EnergyInterval, EnergyResult
from sci_lightning.sci.compute import IntervalCarbon
from sci_lightning.sci.notes import (
    fallback_notes,
    fill_notes,
    headline_unit_notes,
    timeline_notes,
    unavailable_unit_notes,
)

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def test_timeline_notes():
    tl = [EnergyInterval(T0, T0 + timedelta(seconds=10), 90.0)]
    energy = EnergyResult(
        started_at=T0,
        ended_at=T0 + timedelta(seconds=10),
        duration_s=10,
        components=[ComponentEnergy("gpu", "g", 100.0, "nvml_energy_counter", "measured")],
        timeline=tl,
    )
    assert timeline_notes(None, energy) == []
    (note,) = timeline_notes("rescaled", energy)
    assert note.startswith("energy timeline sums to 90 J but the components to 100 J")
    assert "treated as one interval from 2024-01-01T00:00:00+00:00" in timeline_notes("empty", energy)[0]


def test_fill_notes_count_seconds_and_name_the_fill():
    recs = [
        IntervalCarbon(T0, T0 + timedelta(seconds=60), 0.0, 1.0, 0.0, 30.0, "nearest", 1.0),
        IntervalCarbon(T0, T0 + timedelta(seconds=60), 0.0, 1.0, 0.0),
    ]
    (note,) = fill_notes(recs)
    assert note.startswith("carbon intensity did not cover 1 of 2 energy interval(s) (30 s in all)")
    assert note.endswith("(nearest point in time).")
    assert fill_notes(recs[1:]) == []


def test_unit_notes():
    per = {"job": 1.0, "epoch": None, "pflop": None}
    assert unavailable_unit_notes(per, epochs_known=True) == [
        "SCI per epoch not available: the job recorded 0 epochs.",
        "SCI per pflop not available: no FLOPs were counted (no batch ran).",
    ]
    assert "epochs are unknown" in unavailable_unit_notes(per, epochs_known=False)[0]
    assert headline_unit_notes("job", per, work_given=False) == []
    assert "has R = 0" in headline_unit_notes("epoch", per, work_given=False)[0]
    assert "needs the work counts" in headline_unit_notes("1000_tokens", per, work_given=False)[0]
    assert "no tokens were counted" in headline_unit_notes("1000_tokens", per, work_given=True)[0]


def test_fallback_notes():
    assert fallback_notes([]) == []
    (note,) = fallback_notes([{"provider": "watttime", "replaced_by": "static", "reason": "HTTP 401"}, {}])
    assert (
        note
        == "carbon intensity came through a fallback: watttime -> static (HTTP 401); ? -> ? (no reason given)."
    )
