"""The jobs to compare: one :class:`JobRecord` per job folder, read from its ``sci_report.json``.

A job folder holds ``sci_report.json`` (read as a
:class:`~sci_lightning.sci.report.SciReport`) and/or Hydra's ``.hydra/`` files; a job
that failed leaves ``job_status.json`` / ``job_failed.json`` or an error line in its log,
and becomes a record whose ``status`` says why. :func:`collect_jobs` finds and reads the
jobs under sweep or job folders.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sci_lightning.errors import ConfigError
from sci_lightning.redaction import redact
from sci_lightning.run_dirs import walk_run_dirs
from sci_lightning.run_names import job_run_name
from sci_lightning.sci.codec import FormatError
from sci_lightning.sci.report import JSON_NAME, SciReport, load_report

__all__ = [
    "FAILURE_FILES",
    "JOB_STATUS_FILE",
    "JobRecord",
    "collect_jobs",
    "failure_reason",
    "is_job_dir",
    "one_line",
    "quality_class",
]

REPORT_FILE = JSON_NAME
#: Written by :class:`sci_lightning.app.hydra_callbacks.ComparisonCallback` when a job fails.
JOB_STATUS_FILE = "job_status.json"
#: Files a failed job may leave with its reason: the callback's, then the CLI's (__main__.py).
FAILURE_FILES = (JOB_STATUS_FILE, "job_failed.json")


@dataclass
class JobRecord:
    """One job folder: its identity, its status and the figures read from its report."""

    path: Path
    job_num: int | None = None
    run_name: str = ""
    model: str | None = None  # timm name, e.g. "densenet121"
    model_choice: str | None = None  # Hydra config-group choice, e.g. "densenet"
    dataset: str | None = None  # data.name, e.g. "synthetic" or "tiny_imagenet"
    status: str = "ok"  # "ok" | "failed: <reason>"
    report: SciReport | None = None
    values: dict[str, Any] = field(default_factory=dict)
    label: str = ""  # set by build_comparison: unique display name

    @property
    def ok(self) -> bool:
        """True when the job left a readable report."""
        return self.report is not None and self.status == "ok"


def _dig(d: Any, *keys: str) -> Any:
    """``d[k1][k2]...`` in parsed YAML, or None where a level is missing or not a mapping."""
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


def _inference_values(report: SciReport) -> dict[str, Any]:
    """Consumer SCI of the report's inference stage (``predict`` preferred, else the last one measured)."""
    stages = report.inference
    chosen = next((s for s in stages if s.stage == "predict"), stages[-1] if stages else None)
    per_sample = chosen.energy_per_sample_kwh if chosen else None
    return {
        "inference_stage": chosen.stage if chosen else None,
        "inference_samples": chosen.samples if chosen else None,
        "inference_energy_per_1000_kwh": per_sample * 1000 if per_sample is not None else None,
        "inference_sci_per_1000_g": chosen.sci_per_1000_g if chosen else None,
        "inference_quality": chosen.quality if chosen else None,
    }


def values_from_report(report: SciReport) -> dict[str, Any]:
    """The compared figures of one report, flat (the keys of :attr:`JobRecord.values`)."""
    energy, intensity, quality, ca = report.energy_kwh, report.intensity, report.quality, report.carbon_aware
    return {
        **_inference_values(report),
        "val_acc": report.val_acc,
        "val_acc_top5": report.val_acc_top5,
        "duration_s": report.duration_s,
        "energy_kwh": energy.total,
        "energy_it_kwh": energy.it_total,
        "energy_quality": quality.energy,
        "energy_components": [
            {
                "component": c.component,
                "device": c.device,
                "energy_kwh": c.energy_kwh,
                "method": c.method,
                "quality": c.quality,
                "status": c.status,
                "notes": list(c.notes),
            }
            for c in energy.components
        ],
        "cost_usd": report.cost_usd,
        "price_per_hour_usd": report.price_per_hour_usd,
        "sci": report.sci.value,
        "sci_unit": report.sci.unit,
        "sci_quality": combine_quality(quality_class(quality.energy), quality_class(quality.intensity)),
        "operational_g": report.operational_g,
        "embodied_g": report.embodied_g,
        "intensity_g_per_kwh": intensity.mean_g_per_kwh,
        "intensity_source": intensity.source,
        "intensity_region": intensity.region,
        "intensity_signal_type": intensity.signal_type,
        "intensity_kind": intensity.kind,
        "intensity_fallbacks": list(intensity.fallbacks),
        "intensity_quality": quality.intensity,
        "carbon_aware_saving_g": ca.saving_g if ca else None,
        "carbon_aware_saving_pct": ca.saving_pct if ca else None,
        "carbon_aware_best_start": ca.best_start if ca else None,
        "carbon_aware_actual_start": ca.actual_start if ca else None,
        "started_at": report.started_at.isoformat() if report.started_at else None,
        "ended_at": report.ended_at.isoformat() if report.ended_at else None,
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
                return redact(one_line(reason))
    for log_file in sorted(job_dir.glob("*.log")):
        try:
            lines = log_file.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        errors = [ln for ln in lines if _LOG_ERROR_RE.search(ln) and "Traceback" not in ln]
        if errors:
            return redact(one_line(errors[-1]))
    return None


def one_line(text: str, limit: int = 200) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _job_num_from(job_dir: Path, hydra_yaml: Any) -> int | None:
    num = _dig(hydra_yaml, "hydra", "job", "num")
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
    choice = _dig(hydra_yaml, "hydra", "runtime", "choices", "model")
    if not isinstance(choice, str):
        choice = next((o.split("=", 1)[1] for o in overrides if o.lstrip("+~").startswith("model=")), None)
    rec = JobRecord(
        path=job_dir,
        job_num=_job_num_from(job_dir, hydra_yaml),
        run_name=job_run_name(job_dir) or ",".join(overrides),  # as the job's TensorBoard run is named
        model_choice=choice,
    )
    config_yaml = _read_yaml(job_dir / ".hydra" / "config.yaml")
    model_name = _dig(config_yaml, "model", "name")
    if isinstance(model_name, str):
        rec.model = model_name
    dataset = _dig(config_yaml, "data", "name")
    if isinstance(dataset, str):
        rec.dataset = dataset

    report_file = job_dir / REPORT_FILE
    if not report_file.is_file():
        reason = failure_reason(job_dir)
        rec.status = f"failed: {reason}" if reason else f"failed: no {REPORT_FILE}"
        return rec
    try:
        report = load_report(report_file)
    except FormatError as e:
        word = "invalid" if e.path else "unreadable"  # a bad field / not a JSON object at all
        rec.status = f"failed: {word} {REPORT_FILE} ({one_line(e.detail, 120)})"
        return rec
    except (OSError, ValueError, TypeError, RecursionError) as e:  # binary (UnicodeDecodeError), nested, ...
        rec.status = f"failed: unreadable {REPORT_FILE} ({type(e).__name__}: {one_line(str(e), 120)})"
        return rec
    rec.report = report
    rec.values = values_from_report(report)
    if report.model:
        rec.model = report.model
    if report.run_name:
        rec.run_name = report.run_name
    if isinstance(report.settings.get("dataset"), str):
        rec.dataset = report.settings["dataset"]
    return rec


def is_job_dir(path: Path) -> bool:
    """True for a folder holding a report, Hydra's ``.hydra/`` or a failure file."""
    return (
        (path / REPORT_FILE).is_file()
        or (path / ".hydra").is_dir()
        or any((path / f).is_file() for f in FAILURE_FILES)
    )


def find_job_dirs(root: str | os.PathLike[str], max_depth: int = 3) -> list[Path]:
    """Job folders at or under ``root``.

    ``root`` itself when it is a job folder (holds ``sci_report.json`` or ``.hydra/``);
    otherwise the job folders below it, searched ``max_depth`` levels deep without
    descending into job folders. In a Hydra sweep folder (one holding
    ``multirun.yaml``), numbered sub-folders are jobs even when empty (a job that died
    before writing anything).
    """
    return walk_run_dirs(root, is_job_dir, max_depth=max_depth)


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
