"""The command line: ``python -m sci_lightning.compare RUN_DIR [RUN_DIR ...] [--baseline NAME] [--out DIR]``.

A RUN_DIR is a job folder (holding ``sci_report.json`` and/or ``.hydra/``) or a folder
holding job folders (a Hydra sweep folder such as ``multirun/2026-11-28/20-00-00``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from sci_lightning.compare.output import write_comparison
from sci_lightning.compare.records import is_job_dir
from sci_lightning.compare.tables import compare_runs, text_summary
from sci_lightning.errors import SciLightningError

__all__ = ["main"]


def _default_out(run_dirs: Sequence[str]) -> Path:
    if len(run_dirs) == 1 and not is_job_dir(Path(run_dirs[0])):
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
    parser.add_argument(
        "run_dirs",
        nargs="+",
        metavar="RUN_DIR",
        help="a job folder (with sci_report.json) or a sweep folder holding job folders",
    )
    parser.add_argument(
        "--baseline",
        default=None,
        help="model config name, timm name or run-name part of the baseline job (default: the first job)",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="output folder (default: the sweep folder when one is given, else ./comparison)",
    )
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
        print(
            f"error: cannot write the comparison: {e}. Choose a writable folder with --out.", file=sys.stderr
        )
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
