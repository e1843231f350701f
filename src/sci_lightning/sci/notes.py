"""The words of an SCI result: the data-quality notes :func:`~sci_lightning.sci.compute.compute_sci`
attaches to the numbers, so nothing it had to assume or fill in is silent.

Plain functions from figures to sentences; the arithmetic itself is in
:mod:`sci_lightning.sci.compute`. The report carries these notes as its ``warnings``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sci_lightning.energy.base import EnergyResult

__all__ = [
    "FORECAST_NOTE",
    "ZERO_ENERGY_NOTE",
    "fallback_notes",
    "fill_notes",
    "headline_unit_notes",
    "timeline_notes",
    "unavailable_unit_notes",
]

#: What an R of 0 means for each unit (the note when a unit is unavailable).
ZERO_R_REASON = {
    "epoch": "the job recorded 0 epochs",
    "1000_images": "the job recorded 0 training images",
    "pflop": "no FLOPs were counted (no batch ran)",
    "billion_parameters": "the model has no parameters counted",
    "1000_tokens": "no tokens were counted (the inputs are not token sequences)",
}
_UNKNOWN_EPOCHS = "the training data has no length (iterable), so the job's epochs are unknown"

ZERO_ENERGY_NOTE = "job energy is 0 kWh; the reported intensity is the time-weighted mean."
FORECAST_NOTE = "carbon intensity is a forecast, not measured history; re-run the report when actuals exist."


class _Interval(Protocol):
    """What :func:`fill_notes` reads of an :class:`~sci_lightning.sci.compute.IntervalCarbon`."""

    @property
    def fill(self) -> str | None: ...
    @property
    def filled_s(self) -> float: ...
    @property
    def duration_s(self) -> float: ...


def timeline_notes(change: str | None, energy: EnergyResult) -> list[str]:
    """What was done to the energy timeline before the integration (``"empty"``: one interval
    made up; ``"rescaled"``: scaled to the components' total)."""
    if change == "empty":
        return [
            "energy timeline was empty; the whole job's energy was treated as one interval "
            f"from {energy.started_at.isoformat()} to {energy.ended_at.isoformat()} for the intensity integration."
        ]
    if change == "rescaled":
        tl_j = sum(iv.energy_j for iv in energy.timeline)
        return [
            f"energy timeline sums to {tl_j:.6g} J but the components to {energy.it_energy_j:.6g} J; the timeline "
            "was scaled to the components' total (its shape only weights the intensity)."
        ]
    return []


def fill_notes(intervals: Sequence[_Interval]) -> list[str]:
    """The intervals whose intensity was partly filled in (nearest point or the default)."""
    filled = [r for r in intervals if r.fill]
    if not filled:
        return []
    secs = sum(r.filled_s for r in filled if r.duration_s > 0)
    kinds = sorted({r.fill for r in filled if r.fill})
    return [
        f"carbon intensity did not cover {len(filled)} of {len(intervals)} energy interval(s) "
        f"({secs:.0f} s in all); the gaps used the {' / '.join(kinds)} intensity value"
        + (" (sci.default_intensity_g_per_kwh)" if "default" in kinds else " (nearest point in time)")
        + "."
    ]


def unavailable_unit_notes(sci_per: Mapping[str, float | None], *, epochs_known: bool) -> list[str]:
    """One note per counted functional unit whose R is 0."""
    notes = []
    for unit, reason in ZERO_R_REASON.items():
        if unit in sci_per and sci_per[unit] is None:
            if unit == "epoch" and not epochs_known:
                reason = _UNKNOWN_EPOCHS
            notes.append(f"SCI per {unit.replace('_', ' ')} not available: {reason}.")
    return notes


def headline_unit_notes(
    configured: str, sci_per: Mapping[str, float | None], *, work_given: bool
) -> list[str]:
    """Why the headline SCI is per job when the configured unit has no SCI."""
    if sci_per.get(configured) is not None:
        return []
    if configured in sci_per:
        why = "has R = 0 for this job"
    elif work_given:
        why = f"is not available: {ZERO_R_REASON.get(configured, 'no count')}"
    else:
        why = "needs the work counts (WorkCounter), not given"
    return [f"configured functional unit {configured!r} {why}; the headline SCI is per job instead."]


def fallback_notes(fallbacks: Sequence[Mapping[str, Any]]) -> list[str]:
    """The carbon fallback chain's replacements, one sentence."""
    if not fallbacks:
        return []
    return [
        "carbon intensity came through a fallback: "
        + "; ".join(
            f"{f.get('provider', '?')} -> {f.get('replaced_by', '?')} ({f.get('reason', 'no reason given')})"
            for f in fallbacks
        )
        + "."
    ]
