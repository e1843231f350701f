"""Wall time of ``python -m sci_lightning.plan`` against a carbon API that drips its answer.

Starts a loopback GB Carbon Intensity API stub (tests/stub_server.py) that answers every
request with a valid body sent one byte every ``--drip-s`` seconds (the whole body would
take minutes), runs the real ``plan`` command against it with
``carbon.max_total_wait_s=--budget-s`` and ``carbon.fallback=[static]``, and measures the
command's wall time and whether it fell back. The budget covers the body, so the command
should end a little after ``--budget-s`` (plus Python start-up), not after the body's
full drip time. Prints both figures side by side and writes ``hostile_carbon_api.json``.

Usage (this tree, then another checkout's source for a side-by-side comparison)::

    .venv/bin/python benchmarks/hostile_carbon_api.py --budget-s 10 --drip-s 1 --out docs/measurements
    .venv/bin/python benchmarks/hostile_carbon_api.py --budget-s 10 --drip-s 1 --src /work/main/src --out docs/measurements
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from stub_server import StubResponse, StubServer  # noqa: E402


class AnyPath(dict):
    """Every GET goes to one handler (the GB API puts its parameters in the path)."""

    def __init__(self, handler):
        super().__init__()
        self.handler = handler

    def get(self, key, default=None):
        return self.handler


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget-s", type=float, default=10.0, help="carbon.max_total_wait_s")
    ap.add_argument("--drip-s", type=float, default=1.0, help="seconds between body bytes")
    ap.add_argument(
        "--src",
        type=Path,
        default=ROOT / "src",
        help="the sci_lightning source tree to run (e.g. an older checkout's src, to compare)",
    )
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    body = json.dumps(
        {
            "data": [
                {
                    "from": "2024-01-01T00:00Z",
                    "to": "2024-01-01T00:30Z",
                    "intensity": {"forecast": 200, "actual": None, "index": "low"},
                }
            ]
        }
    ).encode()
    full_drip_s = len(body) * args.drip_s
    with StubServer() as srv:
        srv.routes = AnyPath(
            lambda req: StubResponse(200, body=body, drip_s=args.drip_s, content_type="application/json")
        )
        cmd = [
            sys.executable,
            "-m",
            "sci_lightning.plan",
            "carbon=uk_grid",
            f"carbon.base_url={srv.url}",
            f"carbon.max_total_wait_s={args.budget_s:g}",
            "carbon.retries=0",
            "carbon.fallback=[static]",
            "duration=1h",
            "plot=false",
            "--json",
        ]
        t = time.monotonic()
        out = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=full_drip_s + 120,
            env=dict(os.environ, PYTHONPATH=str(args.src)),
        )
        wall_s = time.monotonic() - t
        url = srv.url
    fell_back = "static" in out.stdout.lower() and "fallback" in (out.stdout + out.stderr).lower()
    result = {
        "src": str(args.src),
        "command": " ".join(cmd[1:]).replace(url, "http://127.0.0.1:PORT"),
        "returncode": out.returncode,
        "budget_s": args.budget_s,
        "drip_s": args.drip_s,
        "body_bytes": len(body),
        "full_drip_s": full_drip_s,
        "plan_wall_s": round(wall_s, 2),
        "wall_over_full_drip": round(wall_s / full_drip_s, 3),
        "fell_back_to_static": fell_back,
    }
    print(f"{'body drip (s)':>16} {'plan wall (s)':>14} {'ratio':>7} {'budget (s)':>11} fallback rc")
    print(
        f"{full_drip_s:>16.0f} {wall_s:>14.1f} {wall_s / full_drip_s:>7.3f} {args.budget_s:>11g} "
        f"{fell_back!s:>8} {out.returncode}"
    )
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        name = "hostile_carbon_api.json" if args.src == ROOT / "src" else "hostile_carbon_api_other_src.json"
        (args.out / name).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
