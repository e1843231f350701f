"""Compare the jobs of a sweep (or any run folders) from their ``sci_report.json`` files.

For every job this module reads the run report written at the end of training and
produces one table of accuracy, training time, energy, cost, SCI and the carbon-aware
saving, the relative difference of every model to a *baseline* model, sentences in the
phrasing of the case study ("InceptionV3 had 10.3% higher accuracy, 13.0% less $USD,
20.0% less energy and 9.83% less time to train than DenseNet") and bar charts.

Relative difference (see docs/comparison.md)::

    diff_pct = (value - baseline_value) / |baseline_value| x 100

Accuracy is phrased "higher"/"lower"; cost, energy, time and SCI "more"/"less". A
difference is not computed (``None``, shown as "n/a") when either value is missing, or
when the baseline value is 0 and the value is not (0 vs 0 is "the same"), or for SCI
when the two jobs use different functional units.

Outputs (``write_comparison``): ``comparison.md``, ``comparison.json``,
``comparison.csv`` and ``comparison_<metric>.png`` plus ``comparison.png`` (all charts
in one figure).

Command line::

    python -m sci_lightning.compare RUN_DIR [RUN_DIR ...] [--baseline NAME] [--out DIR]

A RUN_DIR is a job folder (holding ``sci_report.json`` and/or ``.hydra/``) or a folder
holding job folders (a Hydra sweep folder such as ``multirun/2026-11-28/20-00-00``).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import math
import os
import re
import sys
import textwrap
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Sequence

from sci_lightning.errors import ConfigError, SciLightningError
from sci_lightning.fileio import atomic_write, atomic_write_text
from sci_lightning.redaction import redact

log = logging.getLogger(__name__)

REPORT_FILE = "sci_report.json"
#: Written by :class:`sci_lightning.hydra_callbacks.ComparisonCallback` when a job fails.
JOB_STATUS_FILE = "job_status.json"
#: Files a failed job may leave with its reason: the callback's, then the CLI's (__main__.py).
FAILURE_FILES = (JOB_STATUS_FILE, "job_failed.json")
#: Newest ``sci_report.json`` schema this module was written against (newer ones are read, with a warning).
SUPPORTED_REPORT_SCHEMA = 1
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
)
METRICS_BY_KEY = {m.key: m for m in METRICS}


def relative_difference_pct(value: float | None, baseline: float | None) -> float | None:
    """Relative difference of ``value`` to ``baseline`` in percent of the baseline.

    ``(value - baseline) / |baseline| * 100``. Returns ``None`` when either is ``None``
    (or not finite) or when ``baseline`` is 0 and ``value`` is not; 0 vs 0 gives ``0.0``.

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


def comparison_sentence(label: str, baseline_label: str, diffs: dict[str, float | None]) -> str:
    """``"<label> had <phrases> than <baseline_label>"`` in the order of :data:`METRICS`."""
    phrases = [p for m in METRICS if (p := describe_difference(m, diffs.get(m.key))) is not None]
    if not phrases:
        return f"{label}: no figure could be compared with {baseline_label}"
    return f"{label} had {join_phrases(phrases)} than {baseline_label}"


# --------------------------------------------------------------------------- job records


@dataclass
class JobRecord:
    """One job folder: its identity, its status and the figures read from its report."""

    path: Path
    job_num: int | None = None
    run_name: str = ""
    model: str | None = None  # timm name, e.g. "densenet121"
    model_choice: str | None = None  # Hydra config-group choice, e.g. "densenet"
    status: str = "ok"  # "ok" | "failed: <reason>"
    report: dict[str, Any] | None = None
    values: dict[str, Any] = field(default_factory=dict)
    label: str = ""  # set by build_comparison: unique display name

    @property
    def ok(self) -> bool:
        """True when the job left a readable report."""
        return self.report is not None and self.status == "ok"


def _num(x: Any) -> float | None:
    """A finite float, or None (bools, strings, NaN and missing values are None)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def combine_quality(*qualities: str | None) -> str:
    """``measured`` if all are measured, ``estimated`` if all estimated, ``unknown`` if none known, else ``mixed``."""
    known = {q for q in qualities if q}
    if not known:
        return "unknown"
    if len(known) == 1:
        return known.pop()
    return "mixed"


#: Intensity ``kind`` values (carbon/base.py) and quality words -> measured | estimated.
_QUALITY_CLASS = {
    "measured": "measured",
    "estimated": "estimated",
    "forecast": "estimated",
    "static": "estimated",
    "fallback": "estimated",
    "mixed": "mixed",
}


def quality_class(quality: str | None) -> str | None:
    """``measured``/``estimated``/``mixed`` for a quality word or intensity kind (forecast, static,
    fallback are estimates); ``None`` when unknown."""
    return _QUALITY_CLASS.get(quality) if isinstance(quality, str) else None


def values_from_report(report: dict[str, Any]) -> dict[str, Any]:
    """Flatten the figures of a ``sci_report.json`` dict into the compared values.

    Missing or malformed fields become ``None``; nothing here raises.
    """
    energy = report.get("energy_kwh")
    energy_total = _num(_get(energy, "total")) if isinstance(energy, dict) else _num(energy)
    sci = report.get("sci")
    sci_value = _num(_get(sci, "value")) if isinstance(sci, dict) else _num(sci)
    sci_unit = _get(sci, "unit") if isinstance(sci, dict) else None
    energy_q = _get(report, "quality", "energy")
    intensity_q = _get(report, "quality", "intensity")
    ca = report.get("carbon_aware") if isinstance(report.get("carbon_aware"), dict) else None
    components = []
    raw_components = (_get(energy, "components") or []) if isinstance(energy, dict) else []
    for c in raw_components if isinstance(raw_components, list) else []:
        if isinstance(c, dict):
            components.append(
                {k: c.get(k) for k in ("component", "device", "energy_kwh", "method", "quality", "status", "notes")}
            )
    fallbacks = _get(report, "intensity", "fallbacks")
    return {
        "val_acc": _num(report.get("val_acc")),
        "val_acc_top5": _num(report.get("val_acc_top5")),
        "duration_s": _num(report.get("duration_s")),
        "energy_kwh": energy_total,
        "energy_it_kwh": _num(_get(energy, "it_total")) if isinstance(energy, dict) else None,
        "energy_quality": energy_q if isinstance(energy_q, str) else None,
        "energy_components": components,
        "cost_usd": _num(report.get("cost_usd")),
        "price_per_hour_usd": _num(report.get("price_per_hour_usd")),
        "sci": sci_value,
        "sci_unit": sci_unit if isinstance(sci_unit, str) else None,
        "sci_quality": combine_quality(quality_class(energy_q), quality_class(intensity_q)),
        "operational_g": _num(report.get("operational_g")),
        "embodied_g": _num(report.get("embodied_g")),
        "intensity_g_per_kwh": _num(_get(report, "intensity", "mean_g_per_kwh")),
        "intensity_source": _get(report, "intensity", "source"),
        "intensity_region": _get(report, "intensity", "region"),
        "intensity_signal_type": _get(report, "intensity", "signal_type"),
        "intensity_kind": _get(report, "intensity", "kind"),
        "intensity_fallbacks": fallbacks if isinstance(fallbacks, list) else [],
        "intensity_quality": intensity_q if isinstance(intensity_q, str) else None,
        "carbon_aware_saving_g": _num(_get(ca, "saving_g")),
        "carbon_aware_saving_pct": _num(_get(ca, "saving_pct")),
        "carbon_aware_best_start": _get(ca, "best_start"),
        "carbon_aware_actual_start": _get(ca, "actual_start"),
        "started_at": report.get("started_at"),
        "ended_at": report.get("ended_at"),
    }


def _read_yaml(path: Path) -> Any:
    try:
        import yaml

        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except Exception:  # a partial or foreign file: treat as absent
        return None


_LOG_ERROR_RE = re.compile(r"\[ERROR\]|Traceback|Error:|Exception:")


def failure_reason(job_dir: Path) -> str | None:
    """The reason a job failed, from what the job folder holds, or ``None`` if nothing says.

    Looks at ``job_status.json`` (written by the Hydra callback when a job raises),
    ``job_failed.json`` (written by ``python -m sci_lightning`` when a sweep job fails and
    the sweep goes on) and then at the last error line of the job's ``*.log`` files.
    The text is redacted.
    """
    for name in FAILURE_FILES:
        status_file = job_dir / name
        if not status_file.is_file():
            continue
        try:
            data = json.loads(status_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("status", "failed") == "failed":
            err = str(data.get("error") or "").strip()
            typ = str(data.get("error_type") or "").strip()
            reason = f"{typ}: {err}" if typ and err else (typ or err)
            if reason:
                return redact(_one_line(reason))
    for log_file in sorted(job_dir.glob("*.log")):
        try:
            lines = log_file.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        errors = [ln for ln in lines if _LOG_ERROR_RE.search(ln) and "Traceback" not in ln]
        if errors:
            return redact(_one_line(errors[-1]))
    return None


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _job_num_from(job_dir: Path, hydra_yaml: Any) -> int | None:
    num = _get(hydra_yaml, "hydra", "job", "num")
    if isinstance(num, int) and not isinstance(num, bool):
        return num
    return int(job_dir.name) if job_dir.name.isdigit() else None


def read_job(job_dir: str | os.PathLike[str]) -> JobRecord:
    """Read one job folder into a :class:`JobRecord`; never raises for a broken job.

    A folder without a readable ``sci_report.json`` becomes a record with
    ``status="failed: <reason>"``.
    """
    job_dir = Path(job_dir)
    hydra_yaml = _read_yaml(job_dir / ".hydra" / "hydra.yaml")
    overrides = _read_yaml(job_dir / ".hydra" / "overrides.yaml")
    overrides = [str(o) for o in overrides] if isinstance(overrides, list) else []
    choice = _get(hydra_yaml, "hydra", "runtime", "choices", "model")
    if not isinstance(choice, str):
        choice = next((o.split("=", 1)[1] for o in overrides if o.lstrip("+~").startswith("model=")), None)
    rec = JobRecord(
        path=job_dir,
        job_num=_job_num_from(job_dir, hydra_yaml),
        run_name=",".join(overrides),
        model_choice=choice,
    )
    config_yaml = _read_yaml(job_dir / ".hydra" / "config.yaml")
    model_name = _get(config_yaml, "model", "name")
    if isinstance(model_name, str):
        rec.model = model_name

    report_file = job_dir / REPORT_FILE
    if not report_file.is_file():
        reason = failure_reason(job_dir)
        rec.status = f"failed: {reason}" if reason else f"failed: no {REPORT_FILE}"
        return rec
    try:
        report = json.loads(report_file.read_text(encoding="utf-8"))
        if not isinstance(report, dict):
            raise ValueError("top level is not a JSON object")
    except (OSError, ValueError) as e:
        rec.status = f"failed: unreadable {REPORT_FILE} ({_one_line(str(e), 120)})"
        return rec
    schema = report.get("schema_version")
    if isinstance(schema, (int, float)) and schema > SUPPORTED_REPORT_SCHEMA:
        log.warning(
            "%s has schema_version %s; this comparison knows up to %s and reads the fields it knows.",
            report_file, schema, SUPPORTED_REPORT_SCHEMA,
        )
    rec.report = report
    rec.values = values_from_report(report)
    if isinstance(report.get("model"), str):
        rec.model = report["model"]
    if isinstance(report.get("run_name"), str) and report["run_name"]:
        rec.run_name = report["run_name"]
    return rec


def _is_job_dir(path: Path) -> bool:
    return (path / REPORT_FILE).is_file() or (path / ".hydra").is_dir() or any((path / f).is_file() for f in FAILURE_FILES)


def find_job_dirs(root: str | os.PathLike[str], max_depth: int = 3) -> list[Path]:
    """Job folders at or under ``root``.

    ``root`` itself when it is a job folder (holds ``sci_report.json`` or ``.hydra/``);
    otherwise the job folders below it, searched ``max_depth`` levels deep without
    descending into job folders. In a Hydra sweep folder (one holding
    ``multirun.yaml``), numbered sub-folders are jobs even when empty (a job that died
    before writing anything).
    """
    root = Path(root)
    if _is_job_dir(root):
        return [root]
    found: list[Path] = []

    def walk(d: Path, depth: int) -> None:
        try:
            children = sorted(p for p in d.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            return
        is_sweep = (d / "multirun.yaml").is_file()
        for child in children:
            if _is_job_dir(child) or (is_sweep and child.name.isdigit()):
                found.append(child)
            elif depth < max_depth:
                walk(child, depth + 1)

    walk(root, 1)
    return found


def collect_jobs(run_dirs: Iterable[str | os.PathLike[str]]) -> list[JobRecord]:
    """Read every job under ``run_dirs``: in argument order, then by job number (then path).

    Raises :class:`ConfigError` when a path does not exist or holds no job folder.
    """
    records: list[tuple[int, JobRecord]] = []
    seen: set[Path] = set()
    for index, rd in enumerate(run_dirs):
        p = Path(rd)
        if not p.exists():
            raise ConfigError(f"Run folder {str(p)!r} does not exist. Pass a job folder or a sweep folder.")
        if not p.is_dir():
            raise ConfigError(f"{str(p)!r} is not a folder. Pass a job folder or a sweep folder, not a file.")
        dirs = find_job_dirs(p)
        if not dirs:
            raise ConfigError(
                f"No job folder found in {str(p)!r}: expected a folder holding {REPORT_FILE} or .hydra/, "
                "or a sweep folder holding such job folders (e.g. multirun/<date>/<time>)."
            )
        for d in dirs:
            key = d.resolve()
            if key not in seen:
                seen.add(key)
                records.append((index, read_job(d)))
    # the order of the arguments first, then the job number within each
    records.sort(key=lambda t: (t[0], t[1].job_num is None, t[1].job_num or 0, str(t[1].path)))
    return [r for _, r in records]


# --------------------------------------------------------------------------- comparison


def display_model_name(model: str | None) -> str:
    """``inception_v3`` -> ``InceptionV3``; unknown names are returned as they are."""
    if not model:
        return "?"
    return MODEL_DISPLAY_NAMES.get(model, model)


def _assign_labels(jobs: list[JobRecord]) -> None:
    """Each job's label: the model's display name when unique, else the run name (else the folder)."""
    names = [display_model_name(j.model or j.model_choice) if (j.model or j.model_choice) else None for j in jobs]
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
                name, ", ".join(j.run_name or j.path.name for j in matches), good[0].label, good[0].run_name,
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

    @property
    def failed(self) -> list[JobRecord]:
        return [j for j in self.jobs if not j.ok]


def build_comparison(jobs: list[JobRecord], baseline: str | None = None) -> Comparison:
    """Label the jobs, choose the baseline and compute every difference and sentence."""
    _assign_labels(jobs)
    base = select_baseline(jobs, baseline)
    diffs: list[dict[str, float | None]] = []
    sentences: list[str] = []
    notes: list[str] = []
    for j in jobs:
        d: dict[str, float | None] = {m.key: None for m in METRICS}
        if j.ok and base is not None:
            for m in METRICS:
                d[m.key] = relative_difference_pct(j.values.get(m.key), base.values.get(m.key))
            bu, ju = base.values.get("sci_unit"), j.values.get("sci_unit")
            if d["sci"] is not None and bu and ju and bu != ju:
                d["sci"] = None
                notes.append(f"{j.label}: SCI not compared, its functional unit ({ju}) differs from the baseline's ({bu}).")
            if j is not base:
                sentences.append(comparison_sentence(j.label, base.label, d))
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
        generated_at=datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
    )


def compare_runs(run_dirs: Iterable[str | os.PathLike[str]], baseline: str | None = None) -> Comparison:
    """:func:`collect_jobs` then :func:`build_comparison`."""
    return build_comparison(collect_jobs(list(run_dirs)), baseline)


# --------------------------------------------------------------------------- formatting


def _fmt(x: float | None, sig: int = 3) -> str:
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


_QUALITY_MARK = {"measured": "", "estimated": " (est.)", "mixed": " (mixed)", "unknown": " (?)",
                 "forecast": " (est.: forecast)", "static": " (est.: static)", "fallback": " (est.: fallback)"}


def _mark(quality: str | None) -> str:
    """Suffix that says how a figure was obtained; measured figures are unmarked."""
    return _QUALITY_MARK.get(quality or "unknown", f" ({quality})")


TABLE_COLUMNS = (
    "Job", "Run", "Model", "Status", "Top-1 acc (%)", "Top-5 acc (%)", "Time to train (s)",
    "Energy (kWh)", "Cost ($USD)", "SCI", "Intensity (gCO2e/kWh)", "Carbon-aware saving (gCO2e)",
)


def table_rows(comp: Comparison) -> list[list[str]]:
    """The main table as strings (one row per job, failed jobs included)."""
    rows = []
    for j in comp.jobs:
        v = j.values
        job = str(j.job_num) if j.job_num is not None else j.path.name
        if j is comp.baseline:
            job += " (baseline)"
        if not j.ok:
            rows.append([job, j.run_name or "-", j.model or j.model_choice or "-", j.status] + ["-"] * 8)
            continue
        pct = lambda x: _fmt(x * 100) if x is not None else "n/a"  # noqa: E731
        sci = "n/a" if v["sci"] is None else f"{_fmt(v['sci'])} {v['sci_unit'] or ''}".strip() + _mark(v["sci_quality"])
        saving = "n/a"
        if v["carbon_aware_saving_g"] is not None:
            saving = _fmt(v["carbon_aware_saving_g"])
            if v["carbon_aware_saving_pct"] is not None:
                saving += f" ({_fmt(v['carbon_aware_saving_pct'])}%)"
            saving += " (est.)"
        intensity = "n/a"
        if v["intensity_g_per_kwh"] is not None:
            intensity = _fmt(v["intensity_g_per_kwh"]) + _mark(v["intensity_quality"])
        rows.append([
            job, j.run_name or "-", j.model or "-", j.status,
            pct(v["val_acc"]), pct(v["val_acc_top5"]),
            _fmt(v["duration_s"]),
            "n/a" if v["energy_kwh"] is None else _fmt(v["energy_kwh"]) + _mark(v["energy_quality"]),
            _fmt(v["cost_usd"]), sci, intensity, saving,
        ])
    return rows


DIFF_COLUMNS = ("Run", "vs", "Accuracy", "$USD", "Energy", "Time to train", "SCI")


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
    out = ["| " + " | ".join(_md_escape(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(_md_escape(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def text_summary(comp: Comparison) -> str:
    """What is printed at the end of a sweep: the table, the differences and the sentences."""
    parts = [markdown_table(TABLE_COLUMNS, table_rows(comp))]
    if comp.baseline is not None and len([j for j in comp.jobs if j.ok]) > 1:
        parts.append(markdown_table(DIFF_COLUMNS, diff_rows(comp)))
    parts += [s + "." for s in comp.sentences]
    if comp.baseline is None:
        parts.append("No job left a readable sci_report.json: nothing to compare.")
    parts.append("(est.) = estimated (est.: static/forecast/fallback = kind of intensity value), "
                 "(mixed) = partly estimated, unmarked = measured; cost = time to train x the configured price per hour.")
    return "\n\n".join(parts)


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
    energy = f"energy {v['energy_quality'] or 'unknown quality'}" + (f" via {'; '.join(comps)}" if comps else "")
    src = ", ".join(str(x) for x in (v["intensity_source"], v["intensity_region"], v["intensity_signal_type"], v["intensity_kind"]) if x)
    intensity = f"intensity {v['intensity_quality'] or 'unknown quality'}" + (f" from {src}" if src else "")
    if v["intensity_fallbacks"]:
        intensity += f" (fallbacks: {'; '.join(redact(str(f)) for f in v['intensity_fallbacks'])})"
    cost = "cost = time to train x price per hour"
    if v["price_per_hour_usd"] is not None:
        cost += f" ({_fmt(v['price_per_hour_usd'])} $USD/h)"
    return f"- **{j.label}** (`{j.run_name}`): {energy}; {intensity}; accuracy and time measured; {cost}."


def markdown_report(comp: Comparison, charts: Sequence[str] = (), title: str = "Model comparison", source: str = "") -> str:
    """The full ``comparison.md`` text."""
    base = comp.baseline
    lines = [f"# {title}", ""]
    meta = [f"Generated {comp.generated_at}"]
    if source:
        meta.append(f"from `{source}`")
    if base is not None:
        meta.append(f"baseline: **{base.label}** (`{base.run_name}`, job {base.job_num if base.job_num is not None else base.path.name})")
    lines += [", ".join(meta) + ".", "", markdown_table(TABLE_COLUMNS, table_rows(comp)), ""]
    lines += ["(est.) = estimated (for the intensity: est.: static table value, forecast, or fallback after a "
              "provider failed), (mixed) = partly measured and partly estimated, unmarked = measured; cost is computed "
              "as time to train x the configured price per hour. "
              "The carbon-aware saving is always an estimate (it compares the actual start with the "
              "lowest-carbon start of the forecast/historical signal).", ""]
    if base is not None and len([j for j in comp.jobs if j.ok]) > 1:
        lines += ["## Relative to the baseline", "", markdown_table(DIFF_COLUMNS, diff_rows(comp)), ""]
        lines += [f"- {s}." for s in comp.sentences] + [""]
        lines += [f"Relative difference: `{FORMULA}`. Accuracy above the baseline reads \"higher\", below "
                  "\"lower\"; cost, energy, time to train and SCI above the baseline read \"more\", below \"less\". "
                  "Percentages have 3 significant figures. n/a: a value is missing or the baseline value is 0.", ""]
    if comp.notes:
        lines += ["Notes:", ""] + [f"- {n}" for n in comp.notes] + [""]
    failed = comp.failed
    if failed:
        lines += ["## Failed jobs", ""]
        lines += [f"- job {j.job_num if j.job_num is not None else j.path.name} (`{j.run_name or j.path}`): {j.status}" for j in failed]
        lines.append("")
    if charts:
        lines += ["## Charts", ""] + [f"![{Path(c).stem}]({Path(c).name})" for c in charts] + [""]
    good = [j for j in comp.jobs if j.ok]
    if good:
        lines += ["## How each figure was obtained", ""] + [_how_obtained(j) for j in good] + [""]
    return "\n".join(lines)


CSV_COLUMNS = (
    "job_num", "label", "run_name", "model", "model_choice", "status", "is_baseline",
    "val_acc", "val_acc_top5", "duration_s", "energy_kwh", "energy_it_kwh", "energy_quality",
    "cost_usd", "price_per_hour_usd", "sci", "sci_unit", "sci_quality", "operational_g", "embodied_g",
    "intensity_g_per_kwh", "intensity_source", "intensity_region", "intensity_quality",
    "carbon_aware_saving_g", "carbon_aware_saving_pct",
    "val_acc_diff_pct", "cost_usd_diff_pct", "energy_kwh_diff_pct", "duration_s_diff_pct", "sci_diff_pct",
    "sentence", "path",
)


def _job_dicts(comp: Comparison) -> list[dict[str, Any]]:
    sentence_by_label = {}
    if comp.baseline is not None:
        for j, d in zip(comp.jobs, comp.diffs):
            if j.ok and j is not comp.baseline:
                sentence_by_label[id(j)] = comparison_sentence(j.label, comp.baseline.label, d)
    out = []
    for j, d in zip(comp.jobs, comp.diffs):
        v = j.values
        row: dict[str, Any] = {
            "job_num": j.job_num, "label": j.label, "run_name": j.run_name, "model": j.model,
            "model_choice": j.model_choice, "status": j.status, "is_baseline": j is comp.baseline,
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


def comparison_dict(comp: Comparison, charts: Sequence[str] = ()) -> dict[str, Any]:
    """The ``comparison.json`` content."""
    jobs = _job_dicts(comp)
    for jd, j, d in zip(jobs, comp.jobs, comp.diffs):
        jd["energy_components"] = j.values.get("energy_components", [])
        jd["carbon_aware_best_start"] = j.values.get("carbon_aware_best_start")
        jd["carbon_aware_actual_start"] = j.values.get("carbon_aware_actual_start")
        jd["phrases"] = [p for m in METRICS if (p := describe_difference(m, d[m.key])) is not None] if j.ok and j is not comp.baseline else []
    return {
        "schema_version": COMPARISON_SCHEMA_VERSION,
        "generated_at": comp.generated_at,
        "formula": FORMULA,
        "baseline": None if comp.baseline is None else {
            "label": comp.baseline.label, "run_name": comp.baseline.run_name,
            "job_num": comp.baseline.job_num, "model": comp.baseline.model,
        },
        "metrics": [{"key": m.key, "label": m.label, "up": m.up, "down": m.down, "higher_is_better": m.higher_is_better} for m in METRICS],
        "jobs": jobs,
        "sentences": comp.sentences,
        "notes": comp.notes,
        "charts": [Path(c).name for c in charts],
        "quality_legend": {"measured": "read from hardware counters/clocks", "estimated": "derived from a model or a counterfactual", "mixed": "partly measured, partly estimated"},
    }


def csv_text(comp: Comparison) -> str:
    """The ``comparison.csv`` content: one row per job (failed jobs included), raw numbers."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in _job_dicts(comp):
        w.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in CSV_COLUMNS})
    return buf.getvalue()


# --------------------------------------------------------------------------- charts


@dataclass(frozen=True)
class ChartSpec:
    """One bar chart: which value, how to scale it and how to title it."""

    name: str  # file: comparison_<name>.png
    title: str
    value_key: str
    diff_key: str | None
    quality_key: str | None  # values[...] with the quality; None: measured
    better: str  # "higher" | "lower"


CHARTS: tuple[ChartSpec, ...] = (
    ChartSpec("accuracy", "Top-1 validation accuracy", "val_acc", "val_acc", None, "higher"),
    ChartSpec("time", "Time to train", "duration_s", "duration_s", None, "lower"),
    ChartSpec("energy", "Energy", "energy_kwh", "energy_kwh", "energy_quality", "lower"),
    ChartSpec("cost", "Cost", "cost_usd", "cost_usd", None, "lower"),
    ChartSpec("sci", "SCI", "sci", "sci", "sci_quality", "lower"),
    ChartSpec("carbon_aware_saving", "Carbon-aware saving", "carbon_aware_saving_g", None, "_estimated", "higher"),
)


def _scale(spec: ChartSpec, values: list[float | None], sci_unit: str | None) -> tuple[float, str]:
    """Factor and unit that keep the numbers readable."""
    vmax = max((abs(v) for v in values if v is not None), default=0.0)
    if spec.value_key == "val_acc":
        return 100.0, "%"
    if spec.value_key == "duration_s":
        if vmax >= 7200:
            return 1 / 3600, "h"
        if vmax >= 120:
            return 1 / 60, "min"
        return 1.0, "s"
    if spec.value_key == "energy_kwh":
        return (1000.0, "Wh") if vmax < 0.1 else (1.0, "kWh")
    if spec.value_key == "cost_usd":
        return 1.0, "$USD"
    if spec.value_key == "sci":
        return 1.0, sci_unit or "gCO2e per functional unit"
    return 1.0, "gCO2e"


def _draw_chart(ax: Any, comp: Comparison, spec: ChartSpec) -> None:
    jobs = comp.jobs
    raw = [j.values.get(spec.value_key) if j.ok else None for j in jobs]
    sci_unit = comp.baseline.values.get("sci_unit") if comp.baseline else None
    factor, unit = _scale(spec, raw, sci_unit)
    vals = [None if v is None else v * factor for v in raw]
    xs = list(range(len(jobs)))
    heights = [v if v is not None else 0.0 for v in vals]
    colors, hatches, qualities = [], [], []
    for j in jobs:
        colors.append("#7f7f7f" if j is comp.baseline else "#1f77b4")
        q = "estimated" if spec.quality_key == "_estimated" else (j.values.get(spec.quality_key) if spec.quality_key else "measured")
        qualities.append(q)
        hatches.append("" if quality_class(q) == "measured" else "//")
    bars = ax.bar(xs, heights, color=colors, edgecolor="black", linewidth=0.6)
    for bar, h in zip(bars, hatches):
        bar.set_hatch(h)
    vmax = max((abs(v) for v in vals if v is not None), default=1.0) or 1.0
    for x, j, v, d, q in zip(xs, jobs, vals, comp.diffs, qualities):
        if not j.ok:
            text = "failed"
        elif v is None:
            text = "n/a"
        else:
            text = _fmt(v) + _mark(q)
            if spec.diff_key and j is not comp.baseline:
                text += f"\n({format_signed_pct(d.get(spec.diff_key))})"
            if spec.value_key == "carbon_aware_saving_g" and j.values.get("carbon_aware_saving_pct") is not None:
                text += f"\n({_fmt(j.values['carbon_aware_saving_pct'])}%)"
        y = (v if v is not None and v > 0 else 0.0) + vmax * 0.02
        ax.text(x, y, text, ha="center", va="bottom", fontsize=8, color="#b00020" if not j.ok else "black")
    labels = []
    for j in jobs:
        lab = j.label if len(j.label) <= 40 else j.label[:39] + "…"
        lab = "\n".join(textwrap.wrap(lab.replace(",", ", "), 14)).replace(", ", ",")
        labels.append(lab + ("\n(baseline)" if j is comp.baseline else ""))
    ax.set_xticks(xs)
    ax.set_xticklabels(labels, fontsize=8, rotation=0 if len(jobs) <= 4 else 25, ha="center" if len(jobs) <= 4 else "right")
    ax.set_ylabel(unit)
    ax.set_title(f"{spec.title} ({unit}), {spec.better} is better", fontsize=10)
    ax.set_ylim(min(0.0, min((v for v in vals if v is not None), default=0.0) * 1.2), vmax * 1.3)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


_FOOTNOTE = "hatched bars: estimated (not measured); grey: baseline; (+x%/-x%): relative to the baseline"


def write_charts(comp: Comparison, out_dir: str | os.PathLike[str], combined: bool = True, per_metric: bool = True) -> list[Path]:
    """Bar charts (PNG): ``comparison_<metric>.png`` per metric and ``comparison.png`` with all.

    Uses matplotlib's object API with the Agg canvas (no pyplot, no global backend change).
    Returns the written paths.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out_dir = Path(out_dir)
    written: list[Path] = []
    n = len(comp.jobs)
    width = max(5.0, 1.3 * n + 2.0)
    if per_metric:
        for spec in CHARTS:
            fig = Figure(figsize=(width, 4.2), dpi=100)
            FigureCanvasAgg(fig)
            ax = fig.add_subplot(1, 1, 1)
            _draw_chart(ax, comp, spec)
            fig.text(0.5, 0.01, _FOOTNOTE, ha="center", fontsize=7, color="#444444")
            fig.tight_layout(rect=(0, 0.04, 1, 1))
            path = out_dir / f"comparison_{spec.name}.png"
            _atomic_write_fig(fig, path)
            written.append(path)
    if combined:
        fig = Figure(figsize=(3 * max(4.5, 1.2 * n + 1.0), 9.0), dpi=100)
        FigureCanvasAgg(fig)
        for i, spec in enumerate(CHARTS):
            _draw_chart(fig.add_subplot(2, 3, i + 1), comp, spec)
        base = f" (baseline: {comp.baseline.label})" if comp.baseline else ""
        fig.suptitle(f"Model comparison{base}", fontsize=12)
        fig.text(0.5, 0.01, _FOOTNOTE, ha="center", fontsize=8, color="#444444")
        fig.tight_layout(rect=(0, 0.03, 1, 0.96))
        path = out_dir / "comparison.png"
        _atomic_write_fig(fig, path)
        written.append(path)
    return written


# --------------------------------------------------------------------------- writing


def _atomic_write_text(path: Path, text: str) -> None:
    atomic_write_text(path, text)


def _atomic_write_fig(fig: Any, path: Path) -> None:
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))


def write_comparison(comp: Comparison, out_dir: str | os.PathLike[str], charts: bool = True, source: str = "") -> dict[str, Path]:
    """Write ``comparison.{md,json,csv}`` (and the PNG charts) into ``out_dir``.

    A chart failure is logged and does not stop the text outputs. Returns name -> path.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    chart_paths: list[Path] = []
    if charts:
        try:
            chart_paths = write_charts(comp, out)
        except Exception as e:  # matplotlib missing or a drawing bug must not lose the table
            log.warning("Comparison charts not written (%s: %s); the table files are.", type(e).__name__, e)
    for p in chart_paths:
        written[p.name] = p
    md = markdown_report(comp, charts=[p.name for p in chart_paths], source=source)
    files = {
        "comparison.md": md,
        "comparison.json": json.dumps(comparison_dict(comp, chart_paths), indent=2, allow_nan=False, default=str) + "\n",
        "comparison.csv": csv_text(comp),
    }
    for name, text in files.items():
        _atomic_write_text(out / name, text)
        written[name] = out / name
    return written


# --------------------------------------------------------------------------- CLI


def _default_out(run_dirs: Sequence[str]) -> Path:
    if len(run_dirs) == 1 and not _is_job_dir(Path(run_dirs[0])):
        return Path(run_dirs[0])
    return Path("comparison")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sci_lightning.compare RUN_DIR [RUN_DIR ...] [--baseline NAME] [--out DIR]``.

    Exit status: 0 written; 1 written but no job had a report; 2 a usage/config error.
    """
    parser = argparse.ArgumentParser(
        prog="python -m sci_lightning.compare",
        description="Compare jobs from their sci_report.json files: a table, relative differences to a "
        "baseline and bar charts (comparison.md/.json/.csv/.png).",
    )
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="a job folder (with sci_report.json) or a sweep folder holding job folders")
    parser.add_argument("--baseline", default=None, help="model config name, timm name or run-name part of the baseline job (default: the first job)")
    parser.add_argument("--out", default=None, help="output folder (default: the sweep folder when one is given, else ./comparison)")
    parser.add_argument("--no-charts", action="store_true", help="skip the PNG charts")
    parser.add_argument("-q", "--quiet", action="store_true", help="do not print the table")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        comp = compare_runs(args.run_dirs, baseline=args.baseline)
        out = Path(args.out) if args.out else _default_out(args.run_dirs)
        written = write_comparison(comp, out, charts=not args.no_charts, source=", ".join(args.run_dirs))
    except SciLightningError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: cannot write the comparison: {e}. Choose a writable folder with --out.", file=sys.stderr)
        return 2
    if not args.quiet:
        print(text_summary(comp))
        print()
    print(f"Wrote {', '.join(sorted(written))} to {out}")
    if comp.baseline is None:
        print("warning: no job left a readable sci_report.json", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through subprocess in tests
    sys.exit(main())
