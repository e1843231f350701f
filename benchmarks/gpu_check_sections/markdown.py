"""The Markdown report of the GPU check: its header, the shared cell formatting, and the
closing "Not measured" / "Skipped" / "Errors" lists. Each section module owns its own
table (its ``markdown(section) -> lines``); :func:`write_markdown` puts them in order.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping


def fmt(v, spec: str) -> str:
    """``v`` formatted with ``spec``, or ``n/a`` when missing."""
    return "n/a" if v is None else format(v, spec)


def why(d: dict) -> str:
    """Why a run or section has no figures (its error or skip reason)."""
    return str(d.get("error") or d.get("skipped") or d)


def cell(row: dict, key: str, spec: str) -> str:
    """A table cell: the figure, or ``skipped`` / ``error`` / ``n/a``."""
    if key in row:
        return fmt(row[key], spec)
    if "skipped" in row:
        return "skipped"
    if "error" in row:
        return "error"
    return "n/a"


def header(path: str, report: dict) -> list[str]:
    """Title, where and when it was measured, versions, the command, and what is measured vs counted."""
    dev = report["device"]
    cuda = report["mode"] == "gpu"
    where = (
        f"{dev.get('gpu') or dev.get('cuda_device_name')} (driver {dev.get('driver')}, CUDA {dev.get('cuda')}), {dev.get('cpu_count')} CPU cores"
        if cuda
        else f"CPU only ({dev.get('cpu_count')} cores): a smoke run; the numbers measure nothing"
    )
    return [
        f"# GPU check ({report['mode']})",
        "",
        f"- Measured on: {where}",
        f"- Date (UTC): {report['date_utc']}; total {fmt(report.get('total_s'), '.0f')} s "
        f"(estimated {report['estimate_total_s']:.0f} s); per section: "
        + (", ".join(f"{k} {v:.0f} s" for k, v in report.get("section_s", {}).items()) or "none yet"),
        f"- torch {dev.get('torch')}, lightning {dev.get('lightning')}, timm {dev.get('timm')}, python {dev.get('python')}",
        f"- Command: `{report['command']}`",
        f"- Raw figures: `{os.path.basename(path)[:-3]}.json`. All figures below are measured (wall clock, device "
        "synchronized at the window edges), except FLOPs, which are counted.",
        "",
    ]


def footer(report: dict) -> list[str]:
    """What this check does not measure, then the runs skipped and the errors."""
    lines = ["## Not measured", ""]
    lines += [f"- {n}" for n in report.get("not_measured", [])]
    for label, key in (("Skipped", "skipped"), ("Errors", "errors")):
        if report.get(key):
            lines += ["", f"## {label}", ""]
            lines += [f"- {e['where']}: {e.get('why') or e.get('error')}" for e in report[key]]
    lines.append("")
    return lines


def write_markdown(
    path: str, report: dict, section_writers: Mapping[str, Callable[[dict], list[str]]]
) -> None:
    """Write the report to ``path``: the header, each section present in ``section_writers``' order, the footer."""
    lines = header(path, report)
    secs = report.get("sections", {})
    for name, write_section in section_writers.items():
        if secs.get(name):
            lines += write_section(secs[name])
    lines += footer(report)
    with open(path, "w") as f:
        f.write("\n".join(lines))
