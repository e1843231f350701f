"""What EnergyCarbonCallback's fit-end gather and reduce cost at 2, 4 and 8 ranks (CPU, gloo).

At the end of a DDP fit every rank hands its ``fit`` :class:`~sci_lightning.energy.base.Measurement`
to ``torch.distributed.all_gather_object`` (the callback's ``_gather``) and then combines the
list with :func:`~sci_lightning.energy.reduce.reduce_measurements`. This script runs exactly
those two calls in N gloo processes on 127.0.0.1 for each N in ``--ranks``, in one run, one
after the other, and times them (``time.perf_counter``, after a barrier, the slowest rank of
each repetition counts): the cost that the energy report adds to the end of a fit.

Each rank's measurement is shaped like a long GPU job's: one GPU (its own UUID), the host's
RAPL package and DRAM, the CPU-time and RAM estimates, a timeline at its bound (512
intervals, what a long run keeps) and a few notes; the pickled size is printed. All ranks
are one host here (so the host-level figures reduce to one entry each, as on one node).

Prints, per N: the payload size, the median and slowest gather and reduce times, and the
ratios to the smallest N. Then, for ``--local`` rank counts (default 8, 100, 1000), the part
of the cost that does not need the network, measured in one process: unpickling N
measurements (what ``all_gather_object`` hands every rank) and reducing them, with the
bytes received and the memory the unpickled list takes. Writes ``gather_cost.json`` to ``--out``. With more ranks than
cores the processes share cores and the times include waiting for a core: the 8-rank
figure on a 2-core machine is an upper bound, not a network figure (see
docs/measurements/gather_cost.md for the extrapolation to 1,000 ranks).

Usage::

    .venv/bin/python benchmarks/gather_cost.py --ranks 2 4 8 --reps 20 --out docs/measurements
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import socket
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

TIMELINE_INTERVALS = 512


def _measurement(rank: int) -> object:
    """A realistic per-rank ``fit`` measurement (a long GPU job's shape)."""
    from sci_lightning.energy.base import ComponentEnergy, EnergyInterval, Measurement

    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    step = timedelta(seconds=30)
    timeline = [
        EnergyInterval(start + i * step, start + (i + 1) * step, 9000.0 + i)
        for i in range(TIMELINE_INTERVALS)
    ]
    host = "node0"
    components = [
        ComponentEnergy(
            "gpu", f"GPU-{rank:08d}-0000-0000-0000-000000000000", 4.1e6, "nvml_energy_counter", "measured"
        ),
        ComponentEnergy("cpu", f"{host}/package-0", 1.2e6, "rapl", "measured"),
        ComponentEnergy("ram", f"{host}/package-0/dram", 2.0e5, "rapl", "measured"),
        ComponentEnergy(
            "cpu", host, 3.0e5, "cpu_time_tdp_estimate", "estimated", notes=["excludes 7 other ranks"]
        ),
        ComponentEnergy("ram", host, 4.0e4, "ram_per_gb_estimate", "estimated", notes=["peak RSS 6.2 GB"]),
    ]
    return Measurement(
        name="fit",
        components=components,
        duration_s=TIMELINE_INTERVALS * 30.0,
        started_at=start,
        ended_at=start + TIMELINE_INTERVALS * step,
        timeline=timeline,
        warnings=["GPU 0: power limit reached"],
        steps=100_000,
        images=3_200_000,
        host=host,
        counter_baselines_mj={components[0].device: 123456789},
        resolution=["NVML energy counter read every 0.1 s at window edges"],
        idle_power_w={components[0].device: 61.0},
    )


def _worker(rank: int, world: int, port: int, reps: int, warmup: int, queue: object) -> None:
    import torch.distributed as dist

    from sci_lightning.energy.reduce import reduce_measurements
    from sci_lightning.lightning.callback import _gather

    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    trainer = SimpleNamespace(world_size=world)  # what _gather reads of the Trainer
    mine = _measurement(rank)
    rows = []
    for i in range(warmup + reps):
        dist.barrier()
        t0 = time.perf_counter()
        per_rank = _gather(trainer, mine)
        t1 = time.perf_counter()
        reduce_measurements(per_rank)
        t2 = time.perf_counter()
        if i >= warmup:
            rows.append((t1 - t0, t2 - t1))
    everyone = [None] * world
    dist.all_gather_object(everyone, rows)
    if rank == 0:
        slowest = [(max(r[i][0] for r in everyone), max(r[i][1] for r in everyone)) for i in range(reps)]
        queue.put(slowest)
    dist.barrier()
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(world: int, reps: int, warmup: int) -> dict[str, object]:
    """Gather and reduce times (s) of ``reps`` repetitions with ``world`` ranks."""
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    port = _free_port()
    procs = [ctx.Process(target=_worker, args=(r, world, port, reps, warmup, queue)) for r in range(world)]
    for p in procs:
        p.start()
    slowest = queue.get()
    for p in procs:
        p.join(timeout=120)
    gather = [g for g, _ in slowest]
    reduce = [r for _, r in slowest]
    return {
        "ranks": world,
        "reps": reps,
        "gather_median_s": statistics.median(gather),
        "gather_max_s": max(gather),
        "reduce_median_s": statistics.median(reduce),
        "reduce_max_s": max(reduce),
        "total_median_s": statistics.median(g + r for g, r in slowest),
    }


def local_cost(world: int) -> dict[str, object]:
    """The CPU and memory part of the gather at ``world`` ranks, measured in this one process:
    unpickling ``world`` measurements (what ``all_gather_object`` hands every rank) and
    reducing them. The network part is not in it (see the module docstring)."""
    import tracemalloc

    from sci_lightning.energy.reduce import reduce_measurements

    blobs = [pickle.dumps(_measurement(r)) for r in range(world)]
    t0 = time.perf_counter()
    per_rank = [pickle.loads(b) for b in blobs]
    t1 = time.perf_counter()
    reduce_measurements(per_rank)
    t2 = time.perf_counter()
    del per_rank
    tracemalloc.start()
    kept = [pickle.loads(b) for b in blobs]
    unpickled_b, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del kept
    return {
        "ranks": world,
        "unpickle_s": t1 - t0,
        "reduce_s": t2 - t1,
        "received_bytes": sum(map(len, blobs)),
        "unpickled_bytes": unpickled_b,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--local",
        type=int,
        nargs="*",
        default=[8, 100, 1000],
        help="rank counts for the in-process unpickle + reduce cost (no network)",
    )
    args = parser.parse_args(argv)

    payload_b = len(pickle.dumps(_measurement(0)))
    rows = [measure(n, args.reps, args.warmup) for n in args.ranks]
    base = rows[0]
    print(
        f"one rank's Measurement, pickled: {payload_b} bytes ({TIMELINE_INTERVALS}-interval timeline); "
        f"{os.cpu_count()} CPU cores; the slowest rank of each repetition, {args.reps} repetitions"
    )
    print(
        f"{'ranks':>5} {'gather median':>14} {'gather max':>11} {'reduce median':>14} {'total median':>13} "
        f"{'x total vs ' + str(base['ranks']):>14}"
    )
    for r in rows:
        ratio = r["total_median_s"] / base["total_median_s"]
        print(
            f"{r['ranks']:>5} {r['gather_median_s'] * 1e3:>11.2f} ms {r['gather_max_s'] * 1e3:>8.2f} ms "
            f"{r['reduce_median_s'] * 1e3:>11.2f} ms {r['total_median_s'] * 1e3:>10.2f} ms {ratio:>13.2f}x"
        )
    local = [local_cost(n) for n in args.local]
    if local:
        print("in one process, what every rank does with the gathered list (no network):")
        print(f"{'ranks':>5} {'received':>10} {'unpickled':>10} {'unpickle':>10} {'reduce':>10}")
    for r in local:
        print(
            f"{r['ranks']:>5} {r['received_bytes'] / 1e6:>7.2f} MB {r['unpickled_bytes'] / 1e6:>7.1f} MB "
            f"{r['unpickle_s'] * 1e3:>7.1f} ms {r['reduce_s'] * 1e3:>7.1f} ms"
        )
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        record = {
            "command": "python benchmarks/gather_cost.py "
            + " ".join(argv if argv is not None else sys.argv[1:]),
            "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
                "load_avg_when_written": os.getloadavg(),
            },
            "payload_bytes_per_rank": payload_b,
            "timeline_intervals": TIMELINE_INTERVALS,
            "rows": rows,
            "in_process": local,
        }
        (args.out / "gather_cost.json").write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
