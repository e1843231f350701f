"""SCI for AI (GSF): the specification's required items, each mapped to where the report answers it.

:func:`disclosure_rows` walks the SHALL items of the SCI for AI specification (sections
6 to 8: the Provider and Consumer boundaries, the lifecycle stages, the functional units
and the reporting expectations of 8.2.2) and says, for one
:class:`~sci_lightning.sci.report.SciReport`, where the answer is (a section of the
report, a field of ``sci_report.json``, ``preparation.json`` or the campaign), or that
the item is out of scope and why. :func:`inference_section` renders the Consumer SCI
records (energy per inference, SCI per 1,000 inferences).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # report.py imports markdown.py, which imports this module
    from sci_lightning.sci.report import SciReport

__all__ = ["disclosure_section", "inference_section"]

SPEC_URL = "https://github.com/Green-Software-Foundation/sci-ai/blob/main/SPEC.md"


def _g(x: float | None, digits: int = 4) -> str:
    return "n/a" if x is None else f"{x:.{digits}g}"


def _units(r: SciReport) -> str:
    ai = [u for u in ("pflop", "1000_tokens", "billion_parameters") if r.sci_per.get(u) is not None]
    headline = r.functional_unit or "job"
    if not ai:
        return (
            f"headline per {headline}; the Provider units (per PFLOP, per parameter) need the WorkCounter "
            "and were not counted for this run"
        )
    return f"headline per {headline}; Provider units reported: {', '.join(ai)} (sci_per)"


def _rationale(r: SciReport) -> str:
    if r.functional_unit_rationale:
        return f"'{r.functional_unit_rationale}' (functional_unit_rationale)"
    return "not given: set sci.functional_unit_rationale"


def _inference(r: SciReport) -> str:
    if not r.inference:
        return (
            "not measured for this run (run trainer.test / trainer.predict with the EnergyCarbonCallback, "
            "or measure your own loop with sci_lightning.sci.inference.measure_inference)"
        )
    stages = ", ".join(f"{s.stage}: {_g(s.sci_per_1000_g)} gCO2e/1000 inferences" for s in r.inference)
    return f"Inference (Consumer SCI) section: {stages}; the serving system itself is outside this report"


def disclosure_rows(r: SciReport) -> list[tuple[str, str, str]]:
    """(spec item, section, where this report answers it or why it is out of scope)."""
    work = r.work
    gross = (
        "per billion parameters: gross (every parameter); per PFLOP: effective (utilised FLOPs of the "
        "batches run); effective parameters = active per inference (work.parameters_effective)"
        if work is not None
        else "no parameter or FLOP units counted for this run"
    )
    return [
        (
            "Design and Development emissions: training over the entire duration (all epochs, steps, "
            "intermediate runs, early stopping)",
            "7.2",
            "this report: every epoch and step of this job, resumed parts summed (parts); every run of a "
            "development: python -m sci_lightning.campaign",
        ),
        (
            "Design and Development emissions: data collection, preprocessing and cleaning",
            "7.2",
            "preprocessing: the cache builds, measured as their own windows (preparation.json beside this report; "
            "added once by the campaign). Data collection (the dataset download) is out of scope: a one-off "
            "network transfer sci-lightning does not meter",
        ),
        (
            "Model selection, benchmarking and evaluation systems",
            "7.2",
            "validation is inside this job's E; model selection is the campaign of all runs compared",
        ),
        (
            "Inception stage (when material)",
            "7.1",
            "out of scope: problem framing uses no metered compute, not material",
        ),
        (
            "Deployment stage",
            "7.3",
            "out of scope: sci-lightning ends with a trained checkpoint; integrating and testing it in a serving "
            "system happens in the user's infrastructure, not measured here",
        ),
        (
            "Operation and Monitoring (Consumer boundary), per inference for classification",
            "6.1, 7.4, 8.1",
            _inference(r),
        ),
        ("Retirement stage (when material)", "7.5", "out of scope: not material to a training job"),
        ("Provider functional unit per FLOP, per training token or per parameter", "8.2", _units(r)),
        ("The chosen functional unit and the rationale for it", "8.2.2", _rationale(r)),
        ("Gross or effective values", "8.2.2", gross),
        (
            "Strategies, assumptions and methodologies material to the result",
            "8.2.2",
            "Disclosures section (sci.disclosures), settings (e.g. frozen backbone, cached features, precision), "
            "Methodology and Warnings sections",
        ),
    ]


def disclosure_section(r: SciReport) -> list[str]:
    """The SCI for AI disclosure table as Markdown lines."""
    lines = [
        "## SCI for AI disclosure",
        "",
        f"Each item the SCI for AI specification ({SPEC_URL}) requires, and where this report answers it.",
        "",
        "| Item | Spec | Where answered / why out of scope |",
        "|---|---|---|",
    ]
    lines += [f"| {item} | {sec} | {where.replace('|', '/')} |" for item, sec, where in disclosure_rows(r)]
    return lines + [""]


def inference_section(r: SciReport) -> list[str]:
    """The Consumer SCI records: energy per inference and SCI per 1,000 inferences, with their method."""
    if not r.inference:
        return []
    lines = [
        "## Inference (Consumer SCI)",
        "",
        "SCI per 1,000 inferences = ((E x I) + M) / inferences x 1000, E the stage's facility energy, M the "
        "embodied share for its duration.",
        "",
        "| Stage | Inferences | Energy (kWh) | Energy per inference (kWh) | Operational / 1000 (g) | "
        "Embodied / 1000 (g) | SCI per 1000 (gCO2e) | Quality | Method |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in r.inference:
        lines.append(
            f"| {s.stage} | {s.samples} | {_g(s.energy_kwh, 6)} | {_g(s.energy_per_sample_kwh, 6)} | "
            f"{_g(s.operational_per_1000_g)} | {_g(s.embodied_per_1000_g)} | {_g(s.sci_per_1000_g)} | "
            f"{s.quality or 'n/a'} | {s.method or 'n/a'} |"
        )
    notes = [
        f"- {s.stage}: I = {_g(s.intensity_g_per_kwh)} gCO2e/kWh from {s.intensity_source}"
        for s in r.inference
        if s.intensity_source
    ]
    notes += [f"- {s.stage}: {n}" for s in r.inference for n in s.notes]
    return lines + ([""] + notes if notes else []) + [""]
