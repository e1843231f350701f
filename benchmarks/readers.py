"""How long ``compare`` and ``campaign`` take over many run folders (issue 22: 200 folders in seconds).

Makes one real run folder with a tiny CPU training (or takes ``--template RUN_DIR``), copies
it into ``--runs`` folders (each with its own model label, run name and figures, plus one
binary, one truncated and one wrong-schema ``sci_report.json`` to show they are listed, not
fatal), then times the two command lines as a user runs them, each in a fresh process::

    python benchmarks/readers.py --runs 200
    python benchmarks/readers.py --runs 200 --template outputs/runs/<date>/<time>_densenet_p123
    python benchmarks/readers.py --runs 40 --before /path/to/older/checkout/.venv/bin/python

Prints the seconds of each command (wall clock and CPU, median of ``--repeat``), and with
``--before`` the same for another install side by side with the CPU ratio; the figures in
docs/measurements/readers.md come from this script.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TINY = [
    "experiment=quickstart",
    "model=densenet",
    "model.image_size=32",
    "data.batch_size=2",
    "data.num_workers=0",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.num_sanity_val_steps=0",
]
REPORT_FILES = ("sci_report.json", "energy.json", "run_summary.json")


def make_template(work: Path) -> Path:
    """One real run folder from a two-step CPU training."""
    run = work / "template"
    env = dict(os.environ, SCI_LIGHTNING_CACHE=str(work / "cache"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "sci_lightning",
            *TINY,
            f"output_dir={run}",
            f"hydra.run.dir={work / 'hydra'}",
        ],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
    )
    return run


def make_runs(template: Path, root: Path, count: int, broken: bool = True) -> None:
    """``count`` run folders under ``root`` copied from ``template`` (the report files only);
    with ``broken``, folders 1-3 hold a binary, a truncated and a wrong-schema report."""
    report = json.loads((template / "sci_report.json").read_text())
    for i in range(count):
        folder = root / f"run_{i:03d}"
        folder.mkdir(parents=True)
        for name in REPORT_FILES[1:]:
            if (template / name).is_file():
                shutil.copy(template / name, folder / name)
        if broken and i == 1:
            (folder / "sci_report.json").write_bytes(os.urandom(4096))  # binary
            continue
        if broken and i == 2:
            (folder / "sci_report.json").write_text(json.dumps(report)[:300])  # truncated
            continue
        if broken and i == 3:
            (folder / "sci_report.json").write_text(json.dumps({"sci": "not a figure"}))  # wrong schema
            continue
        copy = dict(report, run_name=f"model=m{i}", model=f"{report.get('model')}-{i}")
        copy["sci"] = dict(report["sci"], value=report["sci"]["value"] * (1 + i / count))
        (folder / "sci_report.json").write_text(json.dumps(copy))


def time_command(
    args: list[str], cwd: Path, repeat: int, python: str = sys.executable
) -> tuple[float, float]:
    """Median wall and CPU seconds (user + system, of the child) of ``python -m <args>`` over
    ``repeat`` fresh processes. CPU seconds vary less than wall seconds on a shared machine."""
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run([python, "-m", *args], cwd=cwd, capture_output=True, text=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--template", type=Path, default=None, help="a run folder to copy (default: train one)"
    )
    parser.add_argument(
        "--before",
        default=None,
        metavar="PYTHON",
        help="also time another install's interpreter (e.g. an older checkout's venv) on the same "
        "folders, side by side, and print the ratios (the unreadable folders are then left out, "
        "older versions crash on them)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="readers-bench-") as tmp:
        work = Path(tmp)
        template = args.template or make_template(work)
        runs = work / "runs"
        make_runs(template, runs, args.runs, broken=args.before is None)
        commands = {
            "compare": ["sci_lightning.compare", str(runs), "--out", str(work / "comparison"), "-q"],
            "compare --no-charts": [
                "sci_lightning.compare",
                str(runs),
                "--out",
                str(work / "cmp2"),
                "-q",
                "--no-charts",
            ],
            "campaign": ["sci_lightning.campaign", str(runs), "--out", str(work / "campaign")],
        }
        broken = "" if args.before else " (3 of them unreadable on purpose)"
        print(
            f"{args.runs} run folders{broken}, median of {args.repeat} fresh processes, load average "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs:"
        )
        for label, command in commands.items():
            wall, cpu = time_command(command, work, args.repeat)
            line = f"  {label:<20} {wall:7.2f} s wall {cpu:7.2f} s CPU ({1000 * wall / args.runs:.1f} ms per folder)"
            if args.before:
                wall_b, cpu_b = time_command(command, work, args.repeat, python=args.before)
                line += f" | before: {wall_b:7.2f} s wall {cpu_b:7.2f} s CPU | ratio {cpu_b / cpu:.1f}x CPU"
            print(line, flush=True)


if __name__ == "__main__":
    main()
