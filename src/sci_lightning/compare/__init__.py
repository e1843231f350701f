"""Compare the jobs of a sweep (or any run folders) from their ``sci_report.json`` files.

For every job the run report written at the end of training is read (as a
:class:`~sci_lightning.sci.report.SciReport`) into one table of accuracy, training time,
energy, cost, SCI and the carbon-aware saving, with the relative difference of every
model to a *baseline* model, sentences in the phrasing of the case study and bar charts.

- ``records``: :class:`JobRecord`, reading job folders and why a job failed.
- ``tables``: :class:`Comparison`, the differences, the markdown/CSV/JSON text.
- ``charts``: the PNG bar charts; ``output``: :func:`write_comparison`.
- ``__main__``: ``python -m sci_lightning.compare RUN_DIR [RUN_DIR ...] [--baseline NAME] [--out DIR]``.

Outputs (:func:`write_comparison`): ``comparison.md``, ``comparison.json``,
``comparison.csv`` and ``comparison_<metric>.png`` plus ``comparison.png`` (all charts
in one figure). See docs/comparison.md.
"""

from sci_lightning.compare.output import write_comparison
from sci_lightning.compare.records import JobRecord, collect_jobs
from sci_lightning.compare.tables import Comparison, build_comparison, compare_runs

__all__ = ["Comparison", "JobRecord", "build_comparison", "collect_jobs", "compare_runs", "write_comparison"]
