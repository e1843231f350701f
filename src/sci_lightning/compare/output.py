"""Writing a comparison: ``comparison.md``, ``comparison.json``, ``comparison.csv`` and the charts."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from sci_lightning.compare.charts import write_charts
from sci_lightning.compare.tables import Comparison, comparison_dict, csv_text, markdown_report
from sci_lightning.fileio import atomic_write_text

__all__ = ["write_comparison"]

log = logging.getLogger(__name__)


def write_comparison(
    comp: Comparison, out_dir: str | os.PathLike[str], charts: bool = True, source: str = ""
) -> dict[str, Path]:
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
        "comparison.json": json.dumps(
            comparison_dict(comp, chart_paths), indent=2, allow_nan=False, default=str
        )
        + "\n",
        "comparison.csv": csv_text(comp),
    }
    for name, text in files.items():
        atomic_write_text(out / name, text)
        written[name] = out / name
    return written
