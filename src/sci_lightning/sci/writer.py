"""Writing a run's report files: ``sci_report.json``, ``sci_report.md`` and ``impact.yml``.

:func:`write_run_report` writes three files into the run folder, each atomically (a temporary
file in the same folder, then ``os.replace``), so a reader never sees a half-written
report and an existing report is replaced whole:

- ``sci_report.json``: the :class:`~sci_lightning.sci.report.SciReport` of the job;
- ``sci_report.md``: the disclosure the SCI specification asks for
  (:func:`sci_lightning.sci.markdown.render_markdown`);
- ``impact.yml``: a GSF Impact Framework manifest that reproduces the same SCI
  (:mod:`sci_lightning.sci.manifest`).

Only what is passed in is written, and as a last line of defence every value of an
environment variable whose name contains TOKEN, PASSWORD, SECRET or KEY is redacted.
:func:`add_stages` rewrites a written report with the stages run after its fit.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sci_lightning.energy.base import EnergyResult
from sci_lightning.fileio import atomic_write_text
from sci_lightning.redaction import redact, scrub, secret_values
from sci_lightning.sci.codec import encode, plain
from sci_lightning.sci.compute import SciResult
from sci_lightning.sci.inference import InferenceFigures
from sci_lightning.sci.manifest import MANIFEST_NAME, build_impact_manifest, manifest_text
from sci_lightning.sci.markdown import MD_NAME, render_markdown
from sci_lightning.sci.report import JSON_NAME, SciReport, build_report

__all__ = ["add_stages", "write_run_report"]


def write_run_report(
    out_dir: str | os.PathLike, result: SciResult, energy: EnergyResult, meta: Mapping[str, Any] | None = None
) -> SciReport:
    """Write ``sci_report.json``, ``sci_report.md`` and ``impact.yml`` into ``out_dir``.

    Args:
        out_dir: the run folder (created if missing).
        result: from ``compute_sci``.
        energy: the ``EnergyResult`` the SCI was computed from (per-component detail).
        meta: see :func:`build_report`.

    Returns:
        The report exactly as written to ``sci_report.json`` (secrets redacted).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    secrets = secret_values()
    data, n_report = scrub(build_report(result, energy, meta).to_dict(), secrets)
    manifest, n_manifest = scrub(build_impact_manifest(result, meta), secrets)
    if n_report or n_manifest:
        data["warnings"].append(
            f"{n_report + n_manifest} value(s) equal to secret environment variables were redacted from the report."
        )
    report = SciReport.from_dict(data, str(out / JSON_NAME))
    md, _ = scrub(render_markdown(report), secrets)
    # Defence in depth: a secret split across serialised text is still caught here.
    json_text, md, yaml_text = (redact(t, secrets) for t in (report.to_json(), md, manifest_text(manifest)))
    atomic_write_text(out / JSON_NAME, json_text)
    atomic_write_text(out / MD_NAME, md)
    atomic_write_text(out / MANIFEST_NAME, yaml_text)
    return report


def add_stages(
    report_path: str | os.PathLike[str],
    stages: list[dict[str, Any]],
    inference: list[InferenceFigures] | None = None,
) -> SciReport:
    """Rewrite the report at ``report_path`` (and its ``.md`` beside it) with ``stages``
    (dicts of :class:`StageFigures` fields): stages run after the fit that wrote it; and,
    when given, ``inference``: the Consumer SCI of those of them that were test / predict."""
    path = Path(report_path)
    data = SciReport.read(path).to_dict()
    data["stages"] = plain(stages)
    if inference is not None:
        data["inference"] = [encode(f) for f in inference]
    report = SciReport.from_dict(data, str(path))
    atomic_write_text(path, report.to_json())
    atomic_write_text(path.with_name(MD_NAME), render_markdown(report))
    return report
