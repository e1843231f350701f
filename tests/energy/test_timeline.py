"""The bounded energy timeline (sci_lightning.energy.timeline): conserved energy, UTC intervals, state."""

from __future__ import annotations

import pytest

from sci_lightning.energy import Timeline


def test_timeline_is_bounded_and_conserves_energy():
    tl = Timeline(max_intervals=16)
    for i in range(10_000):
        tl.add(float(i), float(i + 1), 2.0)
        assert len(tl) <= 16
    rows = tl.rows()
    assert sum(r[2] for r in rows) == pytest.approx(20_000.0)
    assert rows[0][0] == 0.0 and rows[-1][1] == 10_000.0
    # contiguous, ordered, and roughly even after many merges
    for a, b in zip(rows, rows[1:]):
        assert a[1] == b[0]
    widths = [r[1] - r[0] for r in rows[:-1]]
    assert max(widths) <= 4 * min(widths)


def test_timeline_intervals_are_utc_and_state_round_trips():
    tl = Timeline(8)
    tl.add(1_700_000_000.0, 1_700_000_010.0, 5.0)
    tl.add(1_700_000_010.0, 1_700_000_020.0, 7.0)
    (first, second) = tl.intervals(scale=2.0)
    assert first.start.tzinfo is not None and first.start.utcoffset().total_seconds() == 0
    assert (first.energy_j, second.energy_j) == (10.0, 14.0)
    clone = Timeline(8)
    clone.load_state_dict(tl.state_dict())
    assert clone.rows() == tl.rows() and clone.total_j == 12.0


def test_timeline_rejects_tiny_bound():
    with pytest.raises(ValueError, match="max_intervals"):
        Timeline(1)
