"""The SCI score and the report that discloses it.

- ``compute``: the arithmetic (plain functions on plain data): SCI = ((E x I) + M) per R.
  ``notes``: the words that explain it (data-quality notes).
- ``report``: :class:`SciReport`, the typed, versioned ``sci_report.json``; building and
  reading it. ``writer``: writing a run's ``sci_report.json``, ``sci_report.md`` and ``impact.yml``.
- ``markdown``: ``sci_report.md`` and the TensorBoard summary; ``manifest``: the GSF
  Impact Framework manifest; ``loggers``: the ``sci/*`` scalars for Lightning loggers.
- ``codec`` / ``schema``: dataclasses to JSON and back, and the report's JSON Schema.
"""

from sci_lightning.sci.compute import SciResult, compute_sci
from sci_lightning.sci.report import SciReport, load_report
from sci_lightning.sci.writer import write_run_report

__all__ = ["SciReport", "SciResult", "compute_sci", "load_report", "write_run_report"]
