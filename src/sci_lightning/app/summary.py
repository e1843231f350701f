"""The one line every run of ``python -m sci_lightning`` ends with.

:func:`summary_line` reads the run summary (``run_summary.json``'s content) and the
:class:`~sci_lightning.sci.report.SciReport`; ``run`` prints it on stdout, also for an
interrupted or failed run (with its status), e.g.::

    sci-lightning: completed inception | val acc 31.2% final, in last.ckpt (best 33.0%, not kept) |
    time 1 min 52 s | energy 0.842 Wh, estimated (cpu: CPU-time estimate, ram: RAM estimate) |
    intensity 156.7 gCO2e/kWh, trace: DE_2023-05-31_48h.csv (DE, measured) | SCI 0.0719 gCO2e/job |
    cost $0.0375 | report outputs/runs/2026-12-02/09-42-39_inception_p8507/sci_report.json

(one line; wrapped here). The accuracy is the *final* validation accuracy, the one the report,
the HParams metrics and the comparison quote; the best epoch's accuracy is added when it differs,
with the checkpoint that holds it (``checkpoint.save_top_k`` with ``checkpoint.monitor=val/acc``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from typing_extensions import TypeIs

from sci_lightning.timefmt import duration_words

if TYPE_CHECKING:
    from sci_lightning.sci.report import SciReport

__all__ = ["format_energy", "summary_line"]

#: Short names of the metering methods (keys of ``energy.base.METHODS``).
METHOD_LABELS = {
    "nvml_energy_counter": "NVML energy counter",
    "nvml_power_sampling": "NVML power sampling",
    "rapl": "RAPL",
    "cpu_time_tdp_estimate": "CPU-time estimate",
    "ram_per_gb_estimate": "RAM estimate",
    "none": "no meter",
}


def _finite(x: Any) -> TypeIs[float]:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def format_energy(kwh: float | None) -> str:
    """``1.23 kWh`` from 1 kWh up, else ``842 Wh`` / ``0.842 Wh`` (3 significant figures)."""
    if not _finite(kwh):
        return "n/a"
    if abs(kwh) >= 1.0:
        return f"{kwh:.3g} kWh"
    return f"{kwh * 1000.0:.3g} Wh"


def accuracy_part(summary: Mapping[str, Any], report: SciReport | None = None) -> str:
    """``val acc 82.0% final, in last.ckpt (best 92.0%, not kept)``: the final accuracy (the
    report's, HParams', the comparison's), and the best epoch's when it differs, with where each is."""
    final = summary.get("final_val_acc")
    if not _finite(final) and report is not None:
        final = report.val_acc
    best = summary.get("best_val_acc")
    if not _finite(final):
        return f"val acc {best * 100:.1f}% (best epoch)" if _finite(best) else "val acc n/a"
    ckpt = summary.get("checkpoints") or {}
    text = f"val acc {final * 100:.1f}% final" + (", in last.ckpt" if ckpt.get("last") else "")
    if _finite(best) and round(best * 1000) != round(final * 1000):
        kept = "in the best-k checkpoints" if ckpt.get("best_by") == "val/acc" else "not kept"
        text += f" (best {best * 100:.1f}%, {kept})"
    return text


def _time_part(report: Any, summary: Mapping[str, Any]) -> str:
    seconds = getattr(report, "duration_s", None) if report is not None else None
    if not _finite(seconds):
        seconds = summary.get("fit_wall_s")
    return f"time {duration_words(seconds)}"


def _cost_part(report: Any) -> str | None:
    cost = getattr(report, "cost_usd", None)
    if not _finite(cost):
        return None
    price = getattr(report, "price_per_hour_usd", None)
    return f"cost ${cost:.3g}" + (f" at ${price:g}/h" if _finite(price) else "")


def _short_source(source: str | None) -> str:
    """The provider and its data, without credits and notes (``trace: DE_2023.csv``)."""
    if not source:
        return "unknown source"
    cut = [i for i in (source.find(" ["), source.find(" (")) if i > 0]
    return source[: min(cut)] if cut else source


def _energy_part(report: Any, summary: Mapping[str, Any]) -> str:
    if report is None:
        kwh = summary.get("energy_kwh")
        return f"energy {format_energy(kwh)}" if _finite(kwh) else "energy not measured"
    text = f"energy {format_energy(report.energy_kwh.total)}"
    quality = getattr(report.quality, "energy", None)
    if quality:
        text += f", {quality}"
    methods: dict[str, list[str]] = {}
    for c in report.energy_kwh.components:
        label = METHOD_LABELS.get(c.method or "", c.method or "?")
        if label not in methods.setdefault(c.component, []):
            methods[c.component].append(label)
    if methods:
        text += " (" + ", ".join(f"{comp}: {' + '.join(labels)}" for comp, labels in methods.items()) + ")"
    return text


def _intensity_part(report: Any) -> str:
    info = report.intensity
    mean = f"{info.mean_g_per_kwh:.1f} gCO2e/kWh" if _finite(info.mean_g_per_kwh) else "n/a"
    where = ", ".join(x for x in (info.region, info.kind) if x)
    text = f"intensity {mean}, {_short_source(info.source)}" + (f" ({where})" if where else "")
    if info.fallbacks:
        text += f", {len(info.fallbacks)} fallback(s)"
    return text


def summary_line(
    summary: Mapping[str, Any] | None,
    report: SciReport | None = None,
    report_path: str | Path | None = None,
    status: str | None = None,
) -> str:
    """One line: status, model, final val accuracy, time to train, energy and its method,
    intensity and its source, SCI with its unit, cost, the report's path.

    Args:
        summary: the run summary (``run_summary.json``: ``model_label``, ``final_val_acc``,
            ``best_val_acc``, ``checkpoints``, ``fit_wall_s``, ``energy_kwh``, ``status``); ``None`` when it could not be made.
        report: the run's :class:`~sci_lightning.sci.report.SciReport`, or ``None`` (energy
            off, or no report written).
        report_path: where the report (or, without one, the run summary) is.
        status: ``completed`` | ``interrupted`` | ``failed``; default the summary's or the report's.
    """
    summary = summary or {}
    status = (
        status
        or summary.get("status")
        or (getattr(report, "status", None) if report else None)
        or "completed"
    )
    model = (
        summary.get("model_label")
        or summary.get("model")
        or (getattr(report, "model", None) if report else None)
    )
    parts = [f"sci-lightning: {status} {model or 'run'}"]
    parts.append(accuracy_part(summary, report))
    parts.append(_time_part(report, summary))
    parts.append(_energy_part(report, summary))
    if report is not None:
        parts.append(_intensity_part(report))
        value = report.sci.value
        parts.append(
            f"SCI {value:.3g} {report.sci.unit}" if _finite(value) else f"SCI n/a ({report.sci.unit})"
        )
        cost = _cost_part(report)
        if cost:
            parts.append(cost)
    else:
        parts.append("no SCI report")
    if report_path is not None:
        parts.append(f"{'report' if report is not None else 'summary'} {report_path}")
    return " | ".join(parts)
