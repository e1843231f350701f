"""The command line: ``python -m sci_lightning.publish RUN_OR_SWEEP_DIR [--out DIR] [--check | --no-check]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sci_lightning.errors import SciLightningError
from sci_lightning.publish.writer import publish
from sci_lightning.redaction import redact
from sci_lightning.sci.codec import FormatError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status: 0 written (and checked where the checkers are installed); 2 an error."""
    parser = argparse.ArgumentParser(
        prog="python -m sci_lightning.publish",
        description="Write a Hugging Face model card (co2_eq_emissions), a CycloneDX 1.6 ML-BOM and an SPDX 3.0 "
        "AI package with the run's energy and emissions, from its sci_report.json.",
    )
    parser.add_argument(
        "path", metavar="RUN_OR_SWEEP_DIR", help="a run folder (with sci_report.json) or a sweep folder"
    )
    parser.add_argument("--out", default=None, help="output folder (default: RUN_OR_SWEEP_DIR/publish)")
    parser.add_argument(
        "--download-location",
        default=None,
        help="where the model can be fetched, for SPDX (default: the run folder as a file: URI)",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--check",
        dest="check",
        action="store_const",
        const=True,
        default=None,
        help="require the checks (huggingface_hub, cyclonedx-python-lib)",
    )
    group.add_argument("--no-check", dest="check", action="store_const", const=False, help="skip the checks")
    args = parser.parse_args(argv)
    try:
        results = publish(args.path, args.out, check=args.check, download_location=args.download_location)
    except (SciLightningError, FormatError, ValueError) as e:
        print(f"error: {redact(str(e))}", file=sys.stderr)  # may quote the report's text
        return 2
    except OSError as e:
        print(f"error: {redact(str(e))}. Give a readable run folder and a writable --out.", file=sys.stderr)
        return 2
    for r in results:
        print(f"{r.run_dir}: wrote {', '.join(p.name for p in r.files)} to {r.out_dir}")
        for c in r.checks:
            print(f"  {c}")
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through subprocess in tests
    sys.exit(main())
