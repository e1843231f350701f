"""The comparison itself and its text: differences to a baseline, tables, markdown, CSV and JSON.

Relative difference (see docs/comparison.md)::

    diff_pct = (value - baseline_value) / |baseline_value| x 100

Accuracy is phrased "higher"/"lower"; cost, energy, time and SCI "more"/"less". A
difference is not computed (``None``, shown as "n/a") when either value is missing, or
when the baseline value is 0 and the value is not (0 vs 0 is "the same"), or for SCI
when the two jobs use different functional units. Sentences follow the case study's
phrasing ("InceptionV3 had 10.3% higher accuracy, 13.0% less $USD, 20.0% less energy
and 9.83% less time to train than DenseNet").

The hour a job ran is not the model: a sweep's jobs run one after another, against a grid
whose intensity changes. So each job's SCI is also computed at one common intensity, the
mean of the compared jobs' intensities (stated), by scaling its operational part::

    SCI_common = SCI x (O x I_common / I_job + M) / (O + M)

(O operational, M embodied emissions of the job, I_job its mean intensity). The conclusion
sentence compares the models at the common intensity; the difference the hours made is a
line of its own (:attr:`Comparison.time_of_day`). Jobs on synthetic data say so, in the table
and in the sentence.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sci_lightning.campaign.rollup import campaign_lines, campaign_of_runs, campaigns_by_model, collect_runs
from sci_lightning.compare.records import JobRecord, collect_jobs
from sci_lightning.errors import ConfigError
from sci_lightning.redaction import redact
from sci_lightning.timefmt import iso_z

__all__ = [
    "NOT_MEASURED",
    "TABLE_COLUMNS",
    "Comparison",
    "build_comparison",
    "compare_runs",
    "comparison_dict",
    "comparison_sentence",
    "csv_text",
    "describe_difference",
    "format_number",
    "format_pct",
    "format_signed_pct",
    "markdown_report",
    "quality_mark",
    "relative_difference_pct",
    "select_baseline",
    "table_rows",
    "text_summary",
]

log = logging.getLogger(__name__)

COMPARISON_SCHEMA_VERSION = 1

FORMULA = "diff_pct = (value - baseline_value) / |baseline_value| x 100"

#: Pretty names for the timm models used in this project (anything else is shown as its timm name).
MODEL_DISPLAY_NAMES = {
    "inception_v3": "InceptionV3",
    "tf_inception_v3": "InceptionV3 (TF)",
    "adv_inception_v3": "InceptionV3 (adv)",
    "inception_v4": "InceptionV4",
    "densenet121": "DenseNet121",
    "densenet161": "DenseNet161",
    "densenet169": "DenseNet169",
    "densenet201": "DenseNet201",
    "resnet18": "ResNet18",
    "resnet34": "ResNet34",
    "resnet50": "ResNet50",
}


# --------------------------------------------------------------------------- metrics


@dataclass(frozen=True)
class Metric:
    """One compared quantity.

    ``key`` is the field of :attr:`JobRecord.values`; ``up``/``down`` are the words used
    when the value is above/below the baseline ("higher"/"lower" or "more"/"less");
    ``noun`` ends the phrase ("10.0% higher accuracy", "13.0% less $USD").
    """

    key: str
    label: str
    noun: str
    up: str
    down: str
    higher_is_better: bool


METRICS: tuple[Metric, ...] = (
    Metric("val_acc", "Accuracy", "accuracy", "higher", "lower", True),
    Metric("cost_usd", "$USD", "$USD", "more", "less", False),
    Metric("energy_kwh", "Energy", "energy", "more", "less", False),
    Metric("duration_s", "Time to train", "time to train", "more", "less", False),
    Metric("sci", "SCI", "carbon (SCI)", "more", "less", False),
    Metric(
        "sci_common", "SCI at common intensity", "carbon (SCI at the common intensity)", "more", "less", False
    ),
)
METRICS_BY_KEY = {m.key: m for m in METRICS}


def relative_difference_pct(value: float | None, baseline: float | None) -> float | None:
    """Relative difference of ``value`` to ``baseline`` in percent of the baseline.

    ``(value - baseline) / |baseline| * 100``. Returns ``None`` when either is ``None``
    (or not finite) or when ``baseline`` is 0 and ``value`` is not; 0 vs 0 gives ``0.0``,
    and so do two values equal to float rounding (1e-9 relative: the same intensities
    averaged in another order), which would otherwise read "0.0000000000000371% lower".

    >>> relative_difference_pct(0.55, 0.50)
    10.000000000000009
    >>> relative_difference_pct(0.87, 1.0)
    -13.0
    """
    if value is None or baseline is None:
        return None
    if not (math.isfinite(value) and math.isfinite(baseline)):
        return None
    if baseline == 0:
        return 0.0 if value == 0 else None
    if math.isclose(value, baseline, rel_tol=1e-9):
        return 0.0
    return (value - baseline) / abs(baseline) * 100.0


def format_pct(pct: float) -> str:
    """Magnitude of a percentage to 3 significant figures, trailing zeros kept.

    As in the case study: 10.3, 13.0, 20.0, 9.83; 0.500; 123; 1230.
    """
    x = abs(pct)
    if x == 0:
        return "0.00"
    x = float(f"{x:.3g}")  # round to 3 significant figures first (9.996 -> 10.0)
    digits_before_point = math.floor(math.log10(x)) + 1
    decimals = max(0, 3 - digits_before_point)
    return f"{x:.{decimals}f}"


def format_signed_pct(pct: float | None) -> str:
    """``+10.0%`` / ``-13.0%`` / ``0.00%`` / ``n/a`` (for tables and chart labels)."""
    if pct is None:
        return "n/a"
    if format_pct(pct) == "0.00":
        return "0.00%"
    return ("+" if pct > 0 else "-") + format_pct(pct) + "%"


def describe_difference(metric: Metric | str, pct: float | None) -> str | None:
    """The phrase for one metric, e.g. ``"13.0% less $USD"``; ``None`` when ``pct`` is ``None``.

    Differences that round to 0.00% read "the same <noun>".
    """
    m = METRICS_BY_KEY[metric] if isinstance(metric, str) else metric
    if pct is None:
        return None
    magnitude = format_pct(pct)
    if magnitude == "0.00":
        return f"the same {m.noun}"
    return f"{magnitude}% {m.up if pct > 0 else m.down} {m.noun}"


def join_phrases(phrases: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c`` (no Oxford comma, as in the case study)."""
    phrases = list(phrases)
    if not phrases:
        return ""
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]


def comparison_sentence(
    label: str, baseline_label: str, diffs: dict[str, float | None], prefix: str = ""
) -> str:
    """``"<prefix><label> had <phrases> than <baseline_label>"`` in the order of :data:`METRICS`;
    with an SCI at the common intensity, that one stands for the model's carbon, not the SCI as run."""
    skip = {"sci"} if diffs.get("sci_common") is not None else {"sci_common"}
    phrases = [
        p
        for m in METRICS
        if m.key not in skip and (p := describe_difference(m, diffs.get(m.key))) is not None
    ]
    label = prefix + label
    if not phrases:
        return f"{label}: no figure could be compared with {baseline_label}"
    return f"{label} had {join_phrases(phrases)} than {baseline_label}"


# --------------------------------------------------------------------------- comparison


def display_model_name(model: str | None) -> str:
    """``inception_v3`` -> ``InceptionV3``; unknown names are returned as they are."""
    if not model:
        return "?"
    return MODEL_DISPLAY_NAMES.get(model, model)


def _assign_labels(jobs: list[JobRecord]) -> None:
    """Each job's label: the model's display name when unique, else the run name (else the folder)."""
    names = [
        display_model_name(j.model or j.model_choice) if (j.model or j.model_choice) else None for j in jobs
    ]
    for j, name in zip(jobs, names):
        if name and names.count(name) == 1:
            j.label = name
        else:
            j.label = j.run_name or j.path.name
    labels = [j.label for j in jobs]
    for j in jobs:
        if labels.count(j.label) > 1:
            j.label = f"{j.label} (job {j.job_num if j.job_num is not None else j.path.name})"


def select_baseline(jobs: Sequence[JobRecord], name: str | None) -> JobRecord | None:
    """The baseline job.

    ``name`` matches, in this order: the model config choice (``densenet``), the timm
    name (``densenet121``), the label, a substring of the run name (``model=densenet``),
    a substring of the timm name. Among several matches the lowest job number wins.
    ``None``: the first job that has a report. Jobs without a report are skipped; if
    ``name`` matches only failed jobs the first good job is used and a warning logged.

    Raises :class:`ConfigError` when ``name`` matches no job at all.
    """
    good = [j for j in jobs if j.ok]
    if not good:
        return None
    if not name:
        return good[0]
    key = name.strip().lower()
    tests = (
        lambda j: (j.model_choice or "").lower() == key,
        lambda j: (j.model or "").lower() == key,
        lambda j: j.label.lower() == key or display_model_name(j.model).lower() == key,
        lambda j: key in j.run_name.lower(),
        lambda j: key in (j.model or "").lower() or key in (j.model_choice or "").lower(),
    )
    for test in tests:
        matches = [j for j in jobs if test(j)]
        if matches:
            ok_matches = [j for j in matches if j.ok]
            if ok_matches:
                return ok_matches[0]
            log.warning(
                "Baseline %r matches only failed job(s) (%s); using %s (%s) as the baseline instead.",
                name,
                ", ".join(j.run_name or j.path.name for j in matches),
                good[0].label,
                good[0].run_name,
            )
            return good[0]
    choices = sorted({c for j in jobs for c in (j.model_choice, j.model, j.run_name) if c})
    raise ConfigError(
        f"Baseline {name!r} matches no job. Set compare.baseline (or --baseline) to a model config name, "
        f"timm name or part of a run name; available: {', '.join(choices) or '(none)'}."
    )


@dataclass
class Comparison:
    """The compared jobs, the baseline and per-job differences (``diffs[job index][metric key]``)."""

    jobs: list[JobRecord]
    baseline: JobRecord | None
    diffs: list[dict[str, float | None]]
    sentences: list[str]
    notes: list[str]
    generated_at: str
    #: The campaign line over every job (failed ones included), see :func:`campaign_summary`.
    campaign: str | None = None
    #: The intensity every job's SCI is also computed at (the compared jobs' mean), gCO2e/kWh.
    common_intensity_g_per_kwh: float | None = None
    #: One line per compared job: its intensity vs the baseline's and what the hour did to its SCI.
    time_of_day: list[str] = field(default_factory=list)
    #: The compared jobs' datasets (``synthetic`` is named in the table and the sentences).
    datasets: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[JobRecord]:
        return [j for j in self.jobs if not j.ok]


def _finite(x: object) -> float | None:
    """``x`` as a float when it is a finite number, else ``None``."""
    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) else None


def sci_at_intensity(values: dict[str, Any], intensity_g_per_kwh: float) -> float | None:
    """The job's SCI had its operational emissions been at ``intensity_g_per_kwh`` (same energy,
    embodied and functional units); ``None`` when a figure is missing."""
    sci, op, own = (_finite(values.get(k)) for k in ("sci", "operational_g", "intensity_g_per_kwh"))
    emb = _finite(values.get("embodied_g") or 0.0)
    if sci is None or op is None or emb is None or own is None or own <= 0:
        return None
    if op + emb == 0:
        return 0.0 if sci == 0 else None
    return sci * (op * intensity_g_per_kwh / own + emb) / (op + emb)


def _common_intensity(jobs: Sequence[JobRecord]) -> float | None:
    """The mean intensity of the good jobs, when at least two have one (and an SCI to scale)."""
    values = [j.values.get("intensity_g_per_kwh") for j in jobs if j.ok and j.values.get("sci") is not None]
    values = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v) and v > 0]
    return sum(values) / len(values) if len(values) >= 2 else None


def _time_of_day_line(j: JobRecord, base: JobRecord, d: dict[str, float | None], common: float) -> str:
    ij, ib = j.values.get("intensity_g_per_kwh"), base.values.get("intensity_g_per_kwh")
    grid = (
        describe_difference(
            Metric("i", "", "grid intensity", "higher", "lower", False), relative_difference_pct(ij, ib)
        )
        or "an unknown grid intensity"
    )
    as_run = describe_difference("sci", d.get("sci")) or "an SCI that could not be compared"
    at_common = describe_difference("sci_common", d.get("sci_common")) or "n/a"
    return (
        f"Time of day: {j.label} ran at {format_number(ij)} gCO2e/kWh, {base.label} at {format_number(ib)} "
        f"({grid}); at the hours each ran {j.label} had {as_run}, at the common {format_number(common)} "
        f"gCO2e/kWh {at_common}"
    )


def data_prefix(datasets: Sequence[str]) -> str:
    """``"On synthetic data, "`` when a compared job trained on the synthetic stand-in, else ``""``."""
    return "On synthetic data, " if "synthetic" in datasets else ""


def build_comparison(jobs: list[JobRecord], baseline: str | None = None) -> Comparison:
    """Label the jobs, choose the baseline and compute every difference and sentence."""
    _assign_labels(jobs)
    base = select_baseline(jobs, baseline)
    common = _common_intensity(jobs)
    datasets = sorted({j.dataset for j in jobs if j.ok and j.dataset})
    for j in jobs:
        if j.ok:
            j.values["sci_common"] = sci_at_intensity(j.values, common) if common is not None else None
    diffs: list[dict[str, float | None]] = []
    sentences: list[str] = []
    notes: list[str] = []
    time_of_day: list[str] = []
    for j in jobs:
        d: dict[str, float | None] = {m.key: None for m in METRICS}
        if j.ok and base is not None:
            for m in METRICS:
                d[m.key] = relative_difference_pct(j.values.get(m.key), base.values.get(m.key))
            bu, ju = base.values.get("sci_unit"), j.values.get("sci_unit")
            if d["sci"] is not None and bu and ju and bu != ju:
                d["sci"] = None
                notes.append(
                    f"{j.label}: SCI not compared, its functional unit ({ju}) differs from the baseline's ({bu})."
                )
            if d["sci_common"] is not None and d["sci"] is None:
                d["sci_common"] = None  # not comparable either (e.g. different functional units)
            if j is not base:
                sentences.append(comparison_sentence(j.label, base.label, d, data_prefix(datasets)))
                if common is not None:
                    time_of_day.append(_time_of_day_line(j, base, d, common))
        diffs.append(d)
    if base is not None:
        for m in METRICS:
            if base.values.get(m.key) == 0:
                notes.append(f"The baseline's {m.noun} is 0: relative differences to it are undefined (n/a).")
            elif base.values.get(m.key) is None:
                notes.append(f"The baseline has no {m.noun} figure: relative differences are n/a.")
    return Comparison(
        jobs=jobs,
        baseline=base,
        diffs=diffs,
        sentences=sentences,
        notes=notes,
        generated_at=iso_z(datetime.now(timezone.utc), timespec="seconds"),
        campaign=campaign_summary(jobs),
        common_intensity_g_per_kwh=common,
        time_of_day=time_of_day,
        datasets=datasets,
    )


def campaign_summary(jobs: Sequence[JobRecord]) -> str | None:
    """The campaign lines of these jobs (:func:`sci_lightning.campaign.campaign_line`), one per model:
    every job counted, failed and interrupted ones included; ``None`` when no job completed with a report."""
    try:
        return campaign_lines(campaign_of_runs([j.path for j in jobs]))
    except Exception as e:
        log.warning("Campaign line not computed (%s: %s).", type(e).__name__, e)
        return None


def compare_runs(run_dirs: Iterable[str | os.PathLike[str]], baseline: str | None = None) -> Comparison:
    """:func:`collect_jobs` then :func:`build_comparison`; the campaign lines (one per model) cover every
    run folder under ``run_dirs`` (also those measured by ``energy.json`` only, which are not compared)."""
    run_dirs = list(run_dirs)
    comp = build_comparison(collect_jobs(run_dirs), baseline)
    try:
        comp.campaign = campaign_lines(campaigns_by_model(collect_runs(run_dirs))) or comp.campaign
    except ConfigError:
        pass  # no run folder: keep the lines of the compared jobs
    return comp


# --------------------------------------------------------------------------- formatting


def format_number(x: float | None, sig: int = 3) -> str:
    """A number to ``sig`` significant figures without scientific notation for usual sizes."""
    if x is None:
        return "n/a"
    if x == 0:
        return "0"
    mag = math.floor(math.log10(abs(x)))
    if mag >= 6 or mag <= -5:
        return f"{x:.{sig - 1}e}"
    decimals = max(0, sig - 1 - mag)
    return f"{x:.{decimals}f}"


_QUALITY_MARK = {
    "measured": "",
    "estimated": " (est.)",
    "mixed": " (mixed)",
    "unknown": " (?)",
    "forecast": " (est.: forecast)",
    "static": " (est.: static)",
    "fallback": " (est.: fallback)",
}


def quality_mark(quality: str | None) -> str:
    """Suffix that says how a figure was obtained; measured figures are unmarked."""
    return _QUALITY_MARK.get(quality or "unknown", f" ({quality})")


TABLE_COLUMNS = (
    "Job",
    "Run",
    "Model",
    "Data",
    "Status",
    "Final top-1 acc (%)",
    "Final top-5 acc (%)",
    "Time to train (s)",
    "Energy (kWh)",
    "Cost ($USD)",
    "SCI",
    "SCI at common intensity",
    "Intensity (gCO2e/kWh)",
    "Carbon-aware saving (gCO2e)",
    "Inference energy (kWh/1000 images)",
    "Inference SCI (gCO2e/1000 images)",
)
#: What the inference columns show for a job whose report has no measured inference stage.
NOT_MEASURED = "not measured"


def _inference_cells(v: dict[str, Any]) -> list[str]:
    """The Consumer SCI cells: energy and SCI per 1,000 images, or "not measured"."""
    mark = quality_mark(v.get("inference_quality"))
    energy, sci = v.get("inference_energy_per_1000_kwh"), v.get("inference_sci_per_1000_g")
    return [
        NOT_MEASURED if energy is None else format_number(energy) + mark,
        NOT_MEASURED if sci is None else format_number(sci) + mark,
    ]


def table_rows(comp: Comparison) -> list[list[str]]:
    """The main table as strings (one row per job, failed jobs included)."""
    rows = []
    for j in comp.jobs:
        v = j.values
        job = str(j.job_num) if j.job_num is not None else j.path.name
        if j is comp.baseline:
            job += " (baseline)"
        if not j.ok:
            rows.append(
                [job, j.run_name or "-", j.model or j.model_choice or "-", j.dataset or "-", j.status]
                + ["-"] * (len(TABLE_COLUMNS) - 5)
            )
            continue
        pct = lambda x: format_number(x * 100) if x is not None else "n/a"  # noqa: E731
        sci = (
            "n/a"
            if v["sci"] is None
            else f"{format_number(v['sci'])} {v['sci_unit'] or ''}".strip() + quality_mark(v["sci_quality"])
        )
        saving = "n/a"
        if v["carbon_aware_saving_g"] is not None:
            saving = format_number(v["carbon_aware_saving_g"])
            if v["carbon_aware_saving_pct"] is not None:
                saving += f" ({format_number(v['carbon_aware_saving_pct'])}%)"
            saving += " (est.)"
        intensity = "n/a"
        if v["intensity_g_per_kwh"] is not None:
            intensity = format_number(v["intensity_g_per_kwh"]) + quality_mark(v["intensity_quality"])
        common = v.get("sci_common")
        sci_common = "n/a" if common is None else format_number(common) + quality_mark(v["sci_quality"])
        rows.append(
            [
                job,
                j.run_name or "-",
                j.model or "-",
                j.dataset or "-",
                j.status,
                pct(v["val_acc"]),
                pct(v["val_acc_top5"]),
                format_number(v["duration_s"]),
                "n/a"
                if v["energy_kwh"] is None
                else format_number(v["energy_kwh"]) + quality_mark(v["energy_quality"]),
                format_number(v["cost_usd"]),
                sci,
                sci_common,
                intensity,
                saving,
                *_inference_cells(v),
            ]
        )
    return rows


DIFF_COLUMNS = (
    "Run",
    "vs",
    "Accuracy",
    "$USD",
    "Energy",
    "Time to train",
    "SCI as run",
    "SCI at common intensity",
)


def diff_rows(comp: Comparison) -> list[list[str]]:
    """Signed relative differences per good non-baseline job."""
    if comp.baseline is None:
        return []
    rows = []
    for j, d in zip(comp.jobs, comp.diffs):
        if j.ok and j is not comp.baseline:
            rows.append([j.label, comp.baseline.label] + [format_signed_pct(d[m.key]) for m in METRICS])
    return rows


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    out = [
        "| " + " | ".join(_md_escape(h) for h in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    out += ["| " + " | ".join(_md_escape(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def text_summary(comp: Comparison) -> str:
    """What is printed at the end of a sweep: the table, the differences and the sentences."""
    parts = [markdown_table(TABLE_COLUMNS, table_rows(comp))]
    if comp.baseline is not None and len([j for j in comp.jobs if j.ok]) > 1:
        parts.append(markdown_table(DIFF_COLUMNS, diff_rows(comp)))
    parts += [s + "." for s in comp.sentences]
    parts += _fairness_lines(comp)
    if comp.baseline is None:
        parts.append("No job left a readable sci_report.json: nothing to compare.")
    parts.append(
        "(est.) = estimated (est.: static/forecast/fallback = kind of intensity value), "
        "(mixed) = partly estimated, unmarked = measured; cost = time to train x the configured price per hour."
    )
    if comp.campaign:
        parts.append(comp.campaign)
    return "\n\n".join(parts)


def _fairness_lines(comp: Comparison) -> list[str]:
    """What the common intensity is, the time-of-day lines, and a word on synthetic data."""
    lines = []
    if comp.common_intensity_g_per_kwh is not None:
        lines.append(
            f"Common intensity: {format_number(comp.common_intensity_g_per_kwh)} gCO2e/kWh, the mean of "
            "the compared jobs' intensities; \"SCI at common intensity\" is each job's SCI had it run at "
            "that intensity, so model differences are not the hour's."
        )
        lines += [t + "." for t in comp.time_of_day]
    if "synthetic" in comp.datasets:
        lines.append(
            "Data: synthetic (generated coloured shapes, not Tiny ImageNet): accuracy, time and energy "
            "here say how the models run, not how well they classify real images."
        )
    return lines


def _how_obtained(j: JobRecord) -> str:
    v = j.values
    comps = []
    for c in v["energy_components"]:
        part = f"{c.get('component')}"
        if c.get("device"):
            part += f" [{c.get('device')}]"
        part += f": {c.get('method')} ({c.get('quality')})"
        if c.get("status") not in (None, "ok"):
            part += f", status {c.get('status')}"
        comps.append(part)
    energy = f"energy {v['energy_quality'] or 'unknown quality'}" + (
        f" via {'; '.join(comps)}" if comps else ""
    )
    src = ", ".join(
        str(x)
        for x in (
            v["intensity_source"],
            v["intensity_region"],
            v["intensity_signal_type"],
            v["intensity_kind"],
        )
        if x
    )
    intensity = f"intensity {v['intensity_quality'] or 'unknown quality'}" + (f" from {src}" if src else "")
    if v["intensity_fallbacks"]:
        intensity += f" (fallbacks: {'; '.join(redact(str(f)) for f in v['intensity_fallbacks'])})"
    cost = "cost = time to train x price per hour"
    if v["price_per_hour_usd"] is not None:
        cost += f" ({format_number(v['price_per_hour_usd'])} $USD/h)"
    return f"- **{j.label}** (`{j.run_name}`): {energy}; {intensity}; accuracy and time measured; {cost}."


def markdown_report(
    comp: Comparison, charts: Sequence[str] = (), title: str = "Model comparison", source: str = ""
) -> str:
    """The full ``comparison.md`` text."""
    base = comp.baseline
    lines = [f"# {title}", ""]
    meta = [f"Generated {comp.generated_at}"]
    if source:
        meta.append(f"from `{source}`")
    if base is not None:
        meta.append(
            f"baseline: **{base.label}** (`{base.run_name}`, job {base.job_num if base.job_num is not None else base.path.name})"
        )
    lines += [", ".join(meta) + ".", "", markdown_table(TABLE_COLUMNS, table_rows(comp)), ""]
    lines += [
        "(est.) = estimated (for the intensity: est.: static table value, forecast, or fallback after a "
        "provider failed), (mixed) = partly measured and partly estimated, unmarked = measured; cost is computed "
        "as time to train x the configured price per hour. "
        "The carbon-aware saving is always an estimate (it compares the actual start with the "
        "lowest-carbon start of the forecast/historical signal).",
        "",
    ]
    if base is not None and len([j for j in comp.jobs if j.ok]) > 1:
        lines += ["## Relative to the baseline", "", markdown_table(DIFF_COLUMNS, diff_rows(comp)), ""]
        lines += [f"- {s}." for s in comp.sentences] + [""]
        lines += [x for t in _fairness_lines(comp) for x in (t, "")]
        lines += [
            f'Relative difference: `{FORMULA}`. Accuracy above the baseline reads "higher", below '
            '"lower"; cost, energy, time to train and SCI above the baseline read "more", below "less". '
            "Percentages have 3 significant figures. n/a: a value is missing or the baseline value is 0.",
            "",
        ]
    if comp.notes:
        lines += ["Notes:", ""] + [f"- {n}" for n in comp.notes] + [""]
    failed = comp.failed
    if failed:
        lines += ["## Failed jobs", ""]
        lines += [
            f"- job {j.job_num if j.job_num is not None else j.path.name} (`{j.run_name or j.path}`): {j.status}"
            for j in failed
        ]
        lines.append("")
    if charts:
        lines += ["## Charts", ""] + [f"![{Path(c).stem}]({Path(c).name})" for c in charts] + [""]
    good = [j for j in comp.jobs if j.ok]
    if good:
        lines += ["## How each figure was obtained", ""] + [_how_obtained(j) for j in good] + [""]
    if comp.campaign:
        lines += [
            "## Campaign",
            "",
            "Every run of these folders, failed ones included, as one SCI-for-AI "
            "Provider campaign per model (`python -m sci_lightning.campaign` writes its disclosure):",
            "",
        ]
        lines += [x for line in comp.campaign.splitlines() for x in (line, "")]
    return "\n".join(lines)


CSV_COLUMNS = (
    "job_num",
    "label",
    "run_name",
    "model",
    "model_choice",
    "status",
    "is_baseline",
    "val_acc",
    "val_acc_top5",
    "duration_s",
    "energy_kwh",
    "energy_it_kwh",
    "energy_quality",
    "cost_usd",
    "price_per_hour_usd",
    "sci",
    "sci_unit",
    "sci_quality",
    "operational_g",
    "embodied_g",
    "intensity_g_per_kwh",
    "intensity_source",
    "intensity_region",
    "intensity_quality",
    "carbon_aware_saving_g",
    "carbon_aware_saving_pct",
    "inference_stage",
    "inference_samples",
    "inference_energy_per_1000_kwh",
    "inference_sci_per_1000_g",
    "inference_quality",
    "val_acc_diff_pct",
    "cost_usd_diff_pct",
    "energy_kwh_diff_pct",
    "duration_s_diff_pct",
    "sci_diff_pct",
    "sci_common",
    "common_intensity_g_per_kwh",
    "sci_common_diff_pct",
    "dataset",
    "sentence",
    "path",
)


def _job_dicts(comp: Comparison) -> list[dict[str, Any]]:
    sentence_by_label = {}
    if comp.baseline is not None:
        for j, d in zip(comp.jobs, comp.diffs):
            if j.ok and j is not comp.baseline:
                sentence_by_label[id(j)] = comparison_sentence(
                    j.label, comp.baseline.label, d, data_prefix(comp.datasets)
                )
    out = []
    for j, d in zip(comp.jobs, comp.diffs):
        v = j.values
        row: dict[str, Any] = {
            "job_num": j.job_num,
            "label": j.label,
            "run_name": j.run_name,
            "model": j.model,
            "model_choice": j.model_choice,
            "status": j.status,
            "is_baseline": j is comp.baseline,
            "dataset": j.dataset,
            "common_intensity_g_per_kwh": comp.common_intensity_g_per_kwh,
        }
        for k in CSV_COLUMNS:
            if k in v:
                row[k] = v[k]
            elif k not in row:
                row[k] = None
        for m in METRICS:
            row[f"{m.key}_diff_pct"] = d[m.key]
        row["sentence"] = sentence_by_label.get(id(j))
        row["path"] = str(j.path)
        out.append(row)
    return out


def comparison_dict(comp: Comparison, charts: Sequence[str | os.PathLike[str]] = ()) -> dict[str, Any]:
    """The ``comparison.json`` content."""
    jobs = _job_dicts(comp)
    for jd, j, d in zip(jobs, comp.jobs, comp.diffs):
        jd["energy_components"] = j.values.get("energy_components", [])
        jd["carbon_aware_best_start"] = j.values.get("carbon_aware_best_start")
        jd["carbon_aware_actual_start"] = j.values.get("carbon_aware_actual_start")
        jd["phrases"] = (
            [p for m in METRICS if (p := describe_difference(m, d[m.key])) is not None]
            if j.ok and j is not comp.baseline
            else []
        )
    return {
        "schema_version": COMPARISON_SCHEMA_VERSION,
        "generated_at": comp.generated_at,
        "formula": FORMULA,
        "baseline": None
        if comp.baseline is None
        else {
            "label": comp.baseline.label,
            "run_name": comp.baseline.run_name,
            "job_num": comp.baseline.job_num,
            "model": comp.baseline.model,
        },
        "metrics": [
            {
                "key": m.key,
                "label": m.label,
                "up": m.up,
                "down": m.down,
                "higher_is_better": m.higher_is_better,
            }
            for m in METRICS
        ],
        "jobs": jobs,
        "sentences": comp.sentences,
        "notes": comp.notes,
        "charts": [Path(c).name for c in charts],
        "campaign": comp.campaign,
        "common_intensity_g_per_kwh": comp.common_intensity_g_per_kwh,
        "time_of_day": comp.time_of_day,
        "datasets": comp.datasets,
        "quality_legend": {
            "measured": "read from hardware counters/clocks",
            "estimated": "derived from a model or a counterfactual",
            "mixed": "partly measured, partly estimated",
        },
    }


def csv_text(comp: Comparison) -> str:
    """The ``comparison.csv`` content: one row per job (failed jobs included), raw numbers."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in _job_dicts(comp):
        w.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in CSV_COLUMNS})
    return buf.getvalue()
