"""How long ``python -m sci_lightning --help`` takes, beside what any Python start costs.

Each arm is a fresh process, run ``--rounds`` times in rotating order; printed per arm: the
median wall time and the median CPU time of the child (user + sys, from ``resource``, not
inflated by waiting for a CPU on a shared machine), and the ratio of each to the ``python``
arm (an empty interpreter) and to the ``torch`` arm (``import torch``: what ``--help`` would
cost if it imported torch or Lightning). Also checked: ``--help`` imports neither torch nor
lightning (``-X importtime``). Record the result with the command that made it::

    PYTHONPATH=src .venv/bin/python benchmarks/cli_startup.py --rounds 7 --out docs/measurements
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

ARMS: dict[str, list[str]] = {
    "python": ["-c", "pass"],
    "help": ["-m", "sci_lightning", "--help"],
    "plan_help": ["-m", "sci_lightning.plan", "--help"],
    "torch": ["-c", "import torch"],
}


def _once(args: list[str], cwd: str) -> tuple[float, float]:
    """(wall s, child CPU s) of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def heavy_imports_of_help(cwd: str) -> list[str]:
    """The heavy packages ``--help`` imports (should be none)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "sci_lightning", "--help"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    names = {
        line.rsplit("|", 1)[-1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    return sorted(n for n in names if n in ("torch", "lightning", "timm", "torchvision", "pynvml"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=None, help="folder for cli_startup.json")
    args = parser.parse_args()
    names = list(ARMS)
    walls: dict[str, list[float]] = {n: [] for n in names}
    cpus: dict[str, list[float]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory() as cwd:
        _once(ARMS["help"], cwd)
        _once(ARMS["torch"], cwd)
        for r in range(args.rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                wall, cpu = _once(ARMS[name], cwd)
                walls[name].append(wall)
                cpus[name].append(cpu)
        heavy = heavy_imports_of_help(cwd)
    result: dict[str, Any] = {
        "rounds": args.rounds,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_avg_1m": os.getloadavg()[0],
        "help_imports_heavy": heavy,
        "arms": {},
    }
    med = {n: (statistics.median(walls[n]), statistics.median(cpus[n])) for n in names}
    print(f"{'arm':<10} {'wall s':>8} {'cpu s':>8} {'wall/python':>12} {'cpu/torch':>10}")
    for n in names:
        wall, cpu = med[n]
        result["arms"][n] = {
            "wall_s": walls[n],
            "cpu_s": cpus[n],
            "median_wall_s": wall,
            "median_cpu_s": cpu,
            "wall_ratio_to_python": wall / med["python"][0],
            "cpu_ratio_to_torch": cpu / med["torch"][1],
        }
        print(f"{n:<10} {wall:8.3f} {cpu:8.3f} {wall / med['python'][0]:12.2f} {cpu / med['torch'][1]:10.2f}")
    print(
        f"--help imports: {', '.join(heavy) or 'no torch, lightning, timm, torchvision or pynvml'}; "
        f"load average (1 min) at the end: {result['load_avg_1m']:.2f} on {result['cpus']} CPUs"
    )
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "cli_startup.json"), "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
