"""The lifecycle activities a run's documents disclose, each with its figures and method.

One place reads the typed :class:`~sci_lightning.sci.report.SciReport` (and the run's
``preparation.json``) for every export: :func:`run_activities` gives the ``training``
activity (the measured training job), one ``inference`` activity per measured inference
stage (``SciReport.inference``) and one ``data-preparation`` activity per cache build the
run used. The names are CycloneDX 1.6's ``energyConsumption.activity`` values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sci_lightning.sci.preparation import PreparationFigures, read_preparation
from sci_lightning.sci.report import SciReport

__all__ = ["Activity", "RunDocuments", "hardware_used", "location", "run_activities", "training_type"]


@dataclass(frozen=True)
class Activity:
    """One activity's energy (facility kWh) and emissions (gCO2e), with how each was obtained."""

    activity: str  # training | inference | data-preparation
    name: str
    energy_kwh: float | None
    operational_g: float | None
    embodied_g: float
    method: str  # free text: measured/estimated and how, for energy, intensity and M
    amortised: bool = False  # a reused cache: the build's energy, attributed once (not again here)
    within_training: bool = (
        False  # ran inside the training window: part of the training figure, not additional
    )

    @property
    def carbon_g(self) -> float | None:
        return None if self.operational_g is None else self.operational_g + self.embodied_g


@dataclass(frozen=True)
class RunDocuments:
    """What the exports need of one run: its report, its activities and where it came from."""

    report: SciReport
    activities: list[Activity]
    run_dir: Path

    @property
    def training(self) -> Activity:
        return self.activities[0]


def energy_method(report: SciReport) -> str:
    """How E was obtained: each component's method and quality, and the PUE applied."""
    parts = [
        f"{c.component} ({c.quality or 'unknown'}: {c.method_description or c.method})"
        for c in report.energy_kwh.components
    ]
    pue = f"x PUE {report.pue:g}" if report.pue is not None else "PUE not recorded"
    return (
        f"energy {report.quality.energy or 'of unknown quality'}: "
        + ("; ".join(parts) or "no component")
        + f", {pue}"
    )


def _intensity_method(report: SciReport) -> str:
    i = report.intensity
    mean = f"{i.mean_g_per_kwh:.4g} gCO2e/kWh" if i.mean_g_per_kwh is not None else "unknown"
    return (
        f"grid intensity {mean} ({i.kind or 'unknown kind'}, {i.signal_type or 'unknown'} signal) from "
        f"{i.source or 'an unnamed source'} for {i.region or 'an unnamed region'}, integrated over the energy timeline"
    )


def _embodied_method(report: SciReport) -> str:
    e = report.embodied
    return e.statement if e is not None and e.statement else "embodied emissions not recorded"


def _training(report: SciReport) -> Activity:
    method = f"{energy_method(report)}; {_intensity_method(report)}; {_embodied_method(report)}"
    return Activity(
        "training",
        "training job",
        report.energy_kwh.total,
        report.operational_g,
        report.embodied_g or 0.0,
        method,
    )


def _num(x: float | None) -> str:
    return "unknown" if x is None else f"{x:.4g}"


def _inference(report: SciReport) -> list[Activity]:
    out = []
    for stage in report.inference:
        method = (
            f"{stage.stage} stage, {stage.samples} inferences in {stage.duration_s:.3g} s: energy "
            f"{stage.quality or 'of unknown quality'} ({stage.method or 'method not recorded'}); "
            f"operational = E x {_num(stage.intensity_g_per_kwh)} gCO2e/kWh"
            + (f" ({stage.intensity_source})" if stage.intensity_source else "")
            + f"; embodied share {stage.embodied_g:.4g} g"
        )
        out.append(
            Activity(
                "inference", stage.stage, stage.energy_kwh, stage.operational_g, stage.embodied_g, method
            )
        )
    return out


def _preparation(report: SciReport, records: list[PreparationFigures]) -> list[Activity]:
    mean = report.intensity.mean_g_per_kwh
    out = []
    for r in records:
        operational = None if mean is None else r.energy_kwh * mean
        reuse = (
            " Reused cache: this is the energy of its one build, amortised over every run that uses it "
            "(counted once in a campaign)."
            if r.reused
            else ""
        )
        method = (
            f"{r.activity} build of {r.items} items in {r.duration_s:.3g} s measured as an EnergyMonitor "
            f"window: {r.quality or 'unknown quality'} ({r.method or 'method not recorded'}) x PUE {r.pue:g}; "
            f"operational emissions estimated with the training run's mean intensity"
            + (f" {mean:.4g} gCO2e/kWh" if mean is not None else " (unknown)")
            + "."
            + reuse
            + (
                " It ran inside the training window, so its energy is part of the training figure (shown "
                "on its own, not added again)."
                if r.within_training
                else ""
            )
        )
        name = r.activity + (f" {Path(r.cache).stem}" if r.cache else "")
        out.append(
            Activity(
                "data-preparation",
                name,
                r.energy_kwh,
                operational,
                0.0,
                method,
                amortised=r.reused,
                within_training=r.within_training,
            )
        )
    return out


def run_activities(run_dir: str | os.PathLike[str]) -> RunDocuments:
    """The report of ``run_dir`` and its activities (training first).

    Raises:
        OSError, FormatError: the report or ``preparation.json`` cannot be read.
    """
    folder = Path(run_dir)
    report = SciReport.read(folder)
    activities = [_training(report), *_inference(report), *_preparation(report, read_preparation(folder))]
    return RunDocuments(report, activities, folder)


def hardware_used(report: SciReport) -> str:
    """The hardware in words: GPUs (name x count) when metered, else the CPU."""
    gpus = [c for c in report.energy_kwh.components if c.component == "gpu"]
    name = report.hardware.get("gpu") if gpus else report.hardware.get("cpu")
    if gpus:
        return f"{len(gpus)} x {name or 'GPU'}"
    return str(name or "CPU (model not recorded)")


def location(report: SciReport) -> str:
    """The grid region the intensity was taken for (the job's location as configured)."""
    return report.intensity.region or "not recorded"


def training_type(report: SciReport) -> str:
    """``fine-tuning`` when only part of the model was trained (a frozen backbone), else ``pre-training``."""
    w = report.work
    if w is not None and 0 < w.parameters_trainable < w.parameters_gross:
        return "fine-tuning"
    return "pre-training"
