"""How much do start-shifting and interruptible shifting save on real 2023 grids?

For both shared 2023 hourly traces (Electricity Maps: California ISO and Germany, the
``direct`` intensity column), for start times every ``--every-days`` days through 2023 at
00:00, 08:00 and 16:00 UTC, job lengths 1..12 h and deadlines 12/24/36/48 h, it plans with
perfect foresight (the recorded values replayed as the forecast) and records the saving
against running now of

* the best single start (``plan_best_start``, on the same hourly grid), and
* the interruptible plan (``plan_interruptible``: pause cost 10 min per resume, minimum
  slot 1 h, 0 W while paused),

then prints mean and p10/p50/p90 of each, by deadline and by job length, as Markdown
tables, and writes them to JSON. Perfect foresight makes both figures upper bounds.

    .venv/bin/python benchmarks/shifting.py --json docs/measurements/shifting.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from sci_lightning.carbon.base import IntensityPoint, IntensitySeries
from sci_lightning.carbon.trace import load_trace
from sci_lightning.shifting.interruptible import plan_interruptible

__all__ = ["main", "run", "summarize"]

DATA_DIR = Path(
    os.environ.get("SCI_CARBON_DATA", Path(__file__).resolve().parents[2] / "shared/data/carbon-intensity")
)
TRACES = ("CISO_2023_hourly.csv", "DE_2023_hourly.csv")
HOURS_OF_DAY = (0, 8, 16)
LENGTHS_H = tuple(range(1, 13))
DEADLINES_H = (12, 24, 36, 48)
PAUSE_COST = timedelta(minutes=10)
MIN_SLOT = timedelta(hours=1)


def trace_points(path: Path) -> list[IntensityPoint]:
    tr = load_trace(path)
    return [
        IntensityPoint(datetime.fromtimestamp(a, timezone.utc), datetime.fromtimestamp(b, timezone.utc), v)
        for a, b, v in zip(tr.starts_s, tr.ends_s, tr.values)
    ]


def run(every_days: int) -> list[dict]:
    """One record per (trace, start, deadline, length): the two savings in % of running now."""
    records = []
    for name in TRACES:
        pts = trace_points(DATA_DIR / name)
        first = pts[0].start
        for day in range(0, 366, every_days):
            for hour in HOURS_OF_DAY:
                start = first + timedelta(days=day, hours=hour)
                i0 = int((start - first).total_seconds() // 3600)
                if i0 + max(DEADLINES_H) > len(pts):
                    continue
                for deadline_h in DEADLINES_H:
                    series = IntensitySeries(pts[i0 : i0 + deadline_h], name, name[:4], "average", "measured")
                    for length_h in LENGTHS_H:
                        plan = plan_interruptible(
                            series,
                            timedelta(hours=length_h),
                            deadline=timedelta(hours=deadline_h),
                            min_slot=MIN_SLOT,
                            pause_cost=PAUSE_COST,
                            power_w=1000.0,
                            now=start,
                        )
                        records.append(
                            {
                                "trace": name,
                                "start": start.isoformat(),
                                "deadline_h": deadline_h,
                                "length_h": length_h,
                                "best_start_pct": plan.best_start_saving_vs_now_pct,
                                "interruptible_pct": plan.saving_vs_now_pct,
                                "slots": len(plan.slots),
                            }
                        )
    return records


def _stats(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values)
    p10, p50, p90 = np.percentile(arr, [10, 50, 90])
    return {
        "mean": float(arr.mean()),
        "p10": float(p10),
        "p50": float(p50),
        "p90": float(p90),
        "n": int(arr.size),
    }


def summarize(records: list[dict], key: str) -> list[dict]:
    """Rows by trace and ``key`` (``deadline_h`` or ``length_h``)."""
    rows = []
    for name in TRACES:
        for value in sorted({r[key] for r in records}):
            sel = [r for r in records if r["trace"] == name and r[key] == value]
            if sel:
                rows.append(
                    {
                        "trace": name,
                        key: value,
                        "best_start": _stats([r["best_start_pct"] for r in sel]),
                        "interruptible": _stats([r["interruptible_pct"] for r in sel]),
                        "mean_slots": float(np.mean([r["slots"] for r in sel])),
                    }
                )
    return rows


def markdown(rows: list[dict], key: str, label: str) -> str:
    def cell(s):
        return f"{s['mean']:.1f} ({s['p10']:.1f} / {s['p50']:.1f} / {s['p90']:.1f})"

    lines = [
        f"| trace | {label} | n | best start: mean (p10 / p50 / p90) % | interruptible: mean (p10 / p50 / p90) % "
        "| mean slots |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['trace'][:-16]} | {r[key]} | {r['best_start']['n']} | {cell(r['best_start'])} | "
            f"{cell(r['interruptible'])} | {r['mean_slots']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every-days", type=int, default=7)
    ap.add_argument("--json", type=Path, default=None, help="also write the summary here")
    args = ap.parse_args(argv)
    if not all((DATA_DIR / n).is_file() for n in TRACES):
        print(f"traces not found in {DATA_DIR} (set SCI_CARBON_DATA)", file=sys.stderr)
        return 2
    t = time.perf_counter()
    records = run(args.every_days)
    wall_s = time.perf_counter() - t
    by_deadline, by_length = summarize(records, "deadline_h"), summarize(records, "length_h")
    over = {
        n: {
            "best_start": _stats([r["best_start_pct"] for r in records if r["trace"] == n]),
            "interruptible": _stats([r["interruptible_pct"] for r in records if r["trace"] == n]),
        }
        for n in TRACES
    }
    print(
        f"{len(records)} plans in {wall_s:.1f} s; saving vs running now, % (perfect foresight), "
        f"pause cost {PAUSE_COST}, min slot {MIN_SLOT}, every {args.every_days} days at {HOURS_OF_DAY} h UTC\n"
    )
    print("All lengths 1-12 h, by deadline:\n")
    print(markdown(by_deadline, "deadline_h", "deadline h"))
    print("\nAll deadlines 12-48 h, by job length:\n")
    print(markdown(by_length, "length_h", "length h"))
    print("\nOverall:")
    for n, s in over.items():
        print(
            f"  {n}: best start mean {s['best_start']['mean']:.1f}%, interruptible mean {s['interruptible']['mean']:.1f}%"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "command": "benchmarks/shifting.py",
                    "every_days": args.every_days,
                    "pause_cost_s": PAUSE_COST.total_seconds(),
                    "min_slot_s": MIN_SLOT.total_seconds(),
                    "wall_s": wall_s,
                    "plans": len(records),
                    "overall": over,
                    "by_deadline": by_deadline,
                    "by_length": by_length,
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
