"""Overhead of EnergyCarbonCallback on a small CPU training run (paired, interleaved).

Trains the same small conv net on random tensors with and without the callback, in
pairs whose order alternates (with/without, without/with), so that load from other
processes on a shared machine hits both arms alike. Reports, side by side:

* steady-state time per training step (batches 20..end, timed by a tiny timing callback
  present in both arms) -> median of the paired ratios;
* whole ``fit`` wall time -> median of the paired ratios;
* the callback's own start-up (``setup`` + ``on_fit_start``) and fit-end cost;
* a micro-benchmark of the per-step hook (``on_train_batch_end``) in microseconds.

With ``--fake-nvml-latency-ms`` it measures instead the per-step hook at GPU step rates
without a GPU: the scripted fake NVML (``tests/fake_nvml.py``) stands in for the driver,
every per-read NVML call busy-waits the given latency (holding the GIL: the worst case),
and a "step" is a busy-wait of ``--step-ms``. For each (latency, step) point, blocks of
steps with the per-step hook (``EnergyMonitor.record_step``, what the callback's
``on_train_batch_end`` calls, over the GPU meter on the fake NVML + the default CPU/RAM
meters) and without it alternate (with/without, without/with), ``--reps`` times. The
monitor's read interval is timed on a clock that runs only during its own blocks, so the
with-arm sees the readings a run made only of such steps would. It prints the
median of the paired block-time ratios, the pooled ratio (sum with / sum without) and
the share of time spent inside the hook. Goal: overhead at most 0.5 % everywhere.

Usage::

    PYTHONPATH=src python benchmarks/callback_overhead.py --pairs 8 --steps 150 \
        --out docs/measurements
    PYTHONPATH=src:tests python benchmarks/callback_overhead.py --fake-nvml-latency-ms 0.1,1,5 \
        --step-ms 2,5,10,20,50 --reps 5 --block-s 1 --out docs/measurements
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from types import SimpleNamespace
from typing import Any

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
from sci_lightning.lightning.callback import EnergyCarbonCallback


class SmallNet(LightningModule):
    def __init__(self, steps: int, batch: int, size: int) -> None:
        super().__init__()
        self.steps, self.batch, self.size = steps, batch, size
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(16, 32, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1),
            torch.nn.Flatten(),
            torch.nn.Linear(32, 10),
        )

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.cross_entropy(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def train_dataloader(self):
        g = torch.Generator().manual_seed(0)
        n = self.steps * self.batch
        x = torch.randn(n, 3, self.size, self.size, generator=g)
        y = torch.randint(0, 10, (n,), generator=g)
        return DataLoader(TensorDataset(x, y), batch_size=self.batch)


class StepTimer(Callback):
    """Wall time from batch ``skip`` to the last batch (steady state), in both arms."""

    def __init__(self, skip: int = 20) -> None:
        self.skip, self.t0, self.t1, self.n = skip, 0.0, 0.0, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if batch_idx == self.skip:
            self.t0 = time.perf_counter()
        elif batch_idx > self.skip:
            self.t1 = time.perf_counter()
            self.n += 1


class TimedEnergy(EnergyCarbonCallback):
    """The callback with its start-up and fit-end hooks timed."""

    startup_s = 0.0
    end_s = 0.0

    def setup(self, trainer, pl_module, stage):
        t = time.perf_counter()
        super().setup(trainer, pl_module, stage)
        self.startup_s += time.perf_counter() - t

    def on_fit_start(self, trainer, pl_module):
        t = time.perf_counter()
        super().on_fit_start(trainer, pl_module)
        self.startup_s += time.perf_counter() - t

    def on_fit_end(self, trainer, pl_module):
        t = time.perf_counter()
        super().on_fit_end(trainer, pl_module)
        self.end_s = time.perf_counter() - t


def run_once(with_cb: bool, args, root: str) -> dict:
    timer = StepTimer()
    callbacks: list[Callback] = [timer]
    cb = None
    if with_cb:
        cb = TimedEnergy(output_dir=tempfile.mkdtemp(prefix="energy", dir=root))  # a folder per fit
        callbacks.append(cb)
    trainer = Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        callbacks=callbacks,
        logger=CSVLogger(root, name="bench"),
        log_every_n_steps=args.log_every,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    model = SmallNet(args.steps, args.batch, args.size)
    t = time.perf_counter()
    trainer.fit(model)
    fit_s = time.perf_counter() - t
    out = {"fit_s": fit_s, "step_s": (timer.t1 - timer.t0) / max(1, timer.n)}
    if cb is not None:
        out.update(
            startup_s=cb.startup_s,
            end_s=cb.end_s,
            energy_j=cb.result.it_energy_j,
            methods=sorted({c.method for c in cb.result.components}),
        )
    return out


def hook_microbench(n: int = 20_000) -> float:
    """Mean cost of one on_train_batch_end call with the default meters (microseconds)."""
    cb = EnergyCarbonCallback(log_every_n_steps=50)
    logger = SimpleNamespace(log_metrics=lambda m, step: None, save=lambda: None)
    trainer = SimpleNamespace(
        strategy=SimpleNamespace(root_device=torch.device("cpu")),
        log_every_n_steps=50,
        loggers=[logger],
        is_global_zero=True,
        global_step=0,
        callback_metrics={},  # the callback publishes its per-step figures there, as in a real Trainer
    )
    cb.setup(trainer, None, "fit")
    cb.on_fit_start(trainer, None)
    batch = (torch.zeros(32, 1), torch.zeros(32))
    t = time.perf_counter()
    for i in range(n):
        cb.on_train_batch_end(trainer, None, None, batch, i)
    us = (time.perf_counter() - t) / n * 1e6
    cb.teardown(trainer, None, "fit")
    return us


GOAL_RATIO = 1.005


def _busy_wait(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


class _Patch:
    """``monkeypatch.setattr`` for a script: sets attributes, undoes them on :meth:`undo`."""

    def __init__(self) -> None:
        self._saved: list[tuple[object, str, object]] = []

    def setattr(self, obj: object, name: str, value: object) -> None:
        self._saved.append((obj, name, getattr(obj, name)))
        setattr(obj, name, value)

    def undo(self) -> None:
        for obj, name, value in reversed(self._saved):
            setattr(obj, name, value)
        self._saved.clear()


class ArmClock:
    """A monotonic clock (seconds) that runs only between :meth:`resume` and :meth:`pause`."""

    def __init__(self) -> None:
        self._base_s = 0.0
        self._since: float | None = None

    def __call__(self) -> float:
        return self._base_s + (time.perf_counter() - self._since if self._since is not None else 0.0)

    def resume(self) -> None:
        self._since = time.perf_counter()

    def pause(self) -> None:
        self._base_s, self._since = self(), None


def _block(step_s: float, n: int, hook, clock: ArmClock) -> tuple[float, float]:
    """(block wall time, time inside the hook) of ``n`` busy-wait steps, each followed by ``hook``."""
    inside_s = 0.0
    clock.resume()
    t0 = time.perf_counter()
    for _ in range(n):
        _busy_wait(step_s)
        if hook is not None:
            h = time.perf_counter()
            hook(images=32)
            inside_s += time.perf_counter() - h
    wall_s = time.perf_counter() - t0
    clock.pause()
    return wall_s, inside_s


def fake_latency_point(latency_ms: float, step_ms: float, reps: int, block_s: float) -> dict:
    """Paired, interleaved blocks with / without the hook at one (NVML latency, step time) point."""
    from fake_nvml import FakeGpu, FakeNvml

    from sci_lightning.energy import EnergyMonitor, build_meters
    from sci_lightning.settings import EnergyConfig

    patch = _Patch()
    driver = FakeNvml(gpus=[FakeGpu(uuid="GPU-fake-bench")], latency_s=latency_ms / 1e3).install(patch)
    clock, cfg = ArmClock(), EnergyConfig()
    monitor = EnergyMonitor(build_meters(cfg, [0]), config=cfg, sync=lambda: None, monotonic=clock)
    monitor.begin_window("fit")
    step_s, n = step_ms / 1e3, max(20, round(block_s / (step_ms / 1e3)))
    _block(step_s, n // 4, monitor.record_step, clock)  # warm-up: first reading, read-cost estimate
    calls0, rows = driver.calls, []
    for r in range(reps):
        order = (True, False) if r % 2 == 0 else (False, True)
        got = {w: _block(step_s, n, monitor.record_step if w else None, clock) for w in order}
        rows.append({"with_s": got[True][0], "without_s": got[False][0], "inside_hook_s": got[True][1]})
    calls = driver.calls - calls0
    monitor.end_window("fit")
    monitor.close()
    patch.undo()
    with_s, without_s = sum(x["with_s"] for x in rows), sum(x["without_s"] for x in rows)
    return {
        "latency_ms": latency_ms,
        "step_ms": step_ms,
        "steps_per_block": n,
        "reps": reps,
        "median_ratio": statistics.median(x["with_s"] / x["without_s"] for x in rows),
        "pooled_ratio": with_s / without_s,
        "inside_hook_pct": sum(x["inside_hook_s"] for x in rows) / with_s * 100,
        "nvml_calls_per_s": calls / with_s,
        "read_interval_s": monitor.read_interval_s,
        "blocks": rows,
    }


def fake_latency_main(args) -> None:
    latencies = [float(x) for x in args.fake_nvml_latency_ms.split(",")]
    steps = [float(x) for x in args.step_ms.split(",")]
    points = []
    print(
        f"{'latency ms':>10s}{'step ms':>9s}{'median':>9s}{'pooled':>9s}{'in hook %':>10s}{'NVML/s':>8s}  goal <= {GOAL_RATIO}"
    )
    for latency_ms in latencies:
        for step_ms in steps:
            pt = fake_latency_point(latency_ms, step_ms, args.reps, args.block_s)
            points.append(pt)
            print(
                f"{latency_ms:10.2f}{step_ms:9.1f}{pt['median_ratio']:9.4f}{pt['pooled_ratio']:9.4f}"
                f"{pt['inside_hook_pct']:10.3f}{pt['nvml_calls_per_s']:8.1f}",
                flush=True,
            )
    summary = {
        "mode": "fake_nvml_latency",
        "goal_ratio": GOAL_RATIO,
        "reps": args.reps,
        "block_s": args.block_s,
        "worst_median_ratio": max(p["median_ratio"] for p in points),
        "worst_pooled_ratio": max(p["pooled_ratio"] for p in points),
        "worst_inside_hook_pct": max(p["inside_hook_pct"] for p in points),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpus": os.cpu_count(),
        "command": " ".join(sys.argv),
        "points": points,
    }
    print(
        f"worst: median ratio {summary['worst_median_ratio']:.4f}, pooled {summary['worst_pooled_ratio']:.4f},"
        f" inside the hook {summary['worst_inside_hook_pct']:.3f} %"
    )
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        path = os.path.join(args.out, "callback_overhead_fake_latency.json")
        with open(path, "w") as f:
            json.dump(summary, f, indent=2)
        print(f"wrote {path}")


def _parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--pairs", type=int, default=8)
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 keeps a shared machine quieter)")
    p.add_argument("--out", default=None, help="folder for callback_overhead.json")
    p.add_argument("--fake-nvml-latency-ms", default=None, help="e.g. 0.1,1,5: the fake-NVML step-rate mode")
    p.add_argument("--step-ms", default="2,5,10,20,50", help="simulated step times (fake-NVML mode)")
    p.add_argument("--reps", type=int, default=5, help="paired blocks per point (fake-NVML mode)")
    p.add_argument("--block-s", type=float, default=1.0, help="length of one block of steps (fake-NVML mode)")
    return p.parse_args()


def _run_pairs(args: argparse.Namespace) -> list[dict[str, Any]]:
    """A warm-up of each arm, then ``args.pairs`` pairs of fits with and without the callback, order alternating."""
    with tempfile.TemporaryDirectory() as root:
        run_once(True, args, root)  # warm-up (imports, allocator), not counted
        run_once(False, args, root)
        pairs = []
        for i in range(args.pairs):
            order = (True, False) if i % 2 == 0 else (False, True)
            res = {w: run_once(w, args, root) for w in order}
            pairs.append({"with": res[True], "without": res[False]})
            print(
                f"pair {i + 1}/{args.pairs}: step {res[True]['step_s'] * 1e3:.2f} vs {res[False]['step_s'] * 1e3:.2f} ms"
                f"  fit {res[True]['fit_s']:.2f} vs {res[False]['fit_s']:.2f} s",
                flush=True,
            )
    return pairs


def _median(pairs: list[dict[str, Any]], arm: str, key: str) -> float:
    return statistics.median(p[arm][key] for p in pairs)


def _summary(args: argparse.Namespace, pairs: list[dict[str, Any]], hook_us: float) -> dict[str, Any]:
    step_ms = _median(pairs, "without", "step_s") * 1e3
    return {
        "pairs": args.pairs,
        "steps": args.steps,
        "batch": args.batch,
        "image_size": args.size,
        "threads": args.threads,
        "log_every_n_steps": args.log_every,
        "median_step_ms_without": step_ms,
        "median_step_ratio_with_over_without": statistics.median(
            p["with"]["step_s"] / p["without"]["step_s"] for p in pairs
        ),
        "median_fit_ratio_with_over_without": statistics.median(
            p["with"]["fit_s"] / p["without"]["fit_s"] for p in pairs
        ),
        "median_callback_startup_ms": _median(pairs, "with", "startup_s") * 1e3,
        "median_callback_fit_end_ms": _median(pairs, "with", "end_s") * 1e3,
        "hook_us_per_step": hook_us,
        "hook_share_of_step_pct": hook_us / 1e3 / step_ms * 100,
        "methods": pairs[0]["with"]["methods"],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpus": os.cpu_count(),
        "pairs_raw": pairs,
    }


def _print_table(summary: dict[str, Any]) -> None:
    pairs = summary["pairs_raw"]
    step_ms, hook_us = summary["median_step_ms_without"], summary["hook_us_per_step"]
    step_ratio, fit_ratio = (
        summary["median_step_ratio_with_over_without"],
        summary["median_fit_ratio_with_over_without"],
    )
    print()
    print(f"{'':34s}{'with':>12s}{'without':>12s}{'ratio':>10s}")
    ws = _median(pairs, "with", "step_s") * 1e3
    wf = _median(pairs, "with", "fit_s")
    nf = _median(pairs, "without", "fit_s")
    print(
        f"{'median step time (ms)':34s}{ws:12.3f}{step_ms:12.3f}{step_ratio:10.4f}  (median of paired ratios)"
    )
    print(f"{'median fit time (s)':34s}{wf:12.3f}{nf:12.3f}{fit_ratio:10.4f}  (median of paired ratios)")
    print(
        f"callback start-up (setup + on_fit_start): {summary['median_callback_startup_ms']:.2f} ms; "
        f"fit end (stop, reduce, write): {summary['median_callback_fit_end_ms']:.2f} ms"
    )
    print(
        f"per-step hook (micro-benchmark): {hook_us:.1f} us = {summary['hook_share_of_step_pct']:.3f}% of a {step_ms:.2f} ms step"
    )


def main() -> None:
    args = _parse_args()
    torch.set_num_threads(args.threads)
    import logging
    import warnings

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    if args.fake_nvml_latency_ms:
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
        fake_latency_main(args)
        return
    pairs = _run_pairs(args)
    summary = _summary(args, pairs, hook_microbench())
    _print_table(summary)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        path = os.path.join(args.out, "callback_overhead.json")
        with open(path, "w") as f:
            json.dump(summary, f, indent=2)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
