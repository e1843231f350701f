"""The command line: ``python -m sci_lightning.campaign DIR [DIR ...] [--final RUN_DIR] [--out DIR]``.

A DIR is a run folder (holding ``sci_report.json``, ``energy.json`` or ``run_summary.json``)
or any folder holding run folders (a Hydra sweep folder, ``outputs/runs``); they are
searched recursively. Writes ``campaign.json``, ``campaign.md`` and ``campaign_impact.yml``
into ``--out`` (default: the first DIR) and prints the campaign line.

Exit status: 0 written; 2 a usage error (one ``error:`` line saying what is wrong and how to fix it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from sci_lightning.campaign.output import write_campaign
from sci_lightning.campaign.rollup import build_campaign, campaign_line
from sci_lightning.errors import SciLightningError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sci_lightning.campaign",
        description="One Provider SCI (GSF SCI for AI) over every run of a model's development: completed, "
        "interrupted, failed and resumed runs, per functional unit of the final model.",
    )
    parser.add_argument(
        "dirs", nargs="+", metavar="DIR", help="a run folder or a folder of run folders (e.g. a sweep)"
    )
    parser.add_argument(
        "--final",
        default=None,
        metavar="RUN_DIR",
        help="the run folder of the final model (default: the last completed run)",
    )
    parser.add_argument("--out", default=None, metavar="DIR", help="output folder (default: the first DIR)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Build and write the campaign; 0 on success, 2 on a usage error."""
    args = _parser().parse_args(argv)
    out = Path(args.out or args.dirs[0])
    try:
        campaign = build_campaign(args.dirs, final=args.final)
        written = write_campaign(campaign, out)
    except SciLightningError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(
            f"error: cannot write the campaign files to {str(out)!r} ({e.strerror or e}). "
            "Choose a writable folder with --out.",
            file=sys.stderr,
        )
        return 2
    print(campaign_line(campaign))
    print(f"Wrote {', '.join(sorted(written))} to {out}")
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through subprocess in tests
    sys.exit(main())
