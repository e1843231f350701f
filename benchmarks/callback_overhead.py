"""Overhead of EnergyCarbonCallback on a small CPU training run (paired, interleaved).

Trains the same small conv net on random tensors with and without the callback, in
pairs whose order alternates (with/without, without/with), so that load from other
processes on a shared machine hits both arms alike. Reports, side by side:

* steady-state time per training step (batches 20..end, timed by a tiny timing callback
  present in both arms) -> median of the paired ratios;
* whole ``fit`` wall time -> median of the paired ratios;
* the callback's own start-up (``setup`` + ``on_fit_start``) and fit-end cost;
* a micro-benchmark of the per-step hook (``on_train_batch_end``) in microseconds.

Usage::

    PYTHONPATH=src python benchmarks/callback_overhead.py --pairs 8 --steps 150 \
        --out docs/measurements
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

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
from sci_lightning.lightning.callback import EnergyCarbonCallback  # noqa: E402


class SmallNet(LightningModule):
    def __init__(self, steps: int, batch: int, size: int) -> None:
        super().__init__()
        self.steps, self.batch, self.size = steps, batch, size
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
            torch.nn.Flatten(), torch.nn.Linear(32, 10),
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
        cb = TimedEnergy(output_dir=os.path.join(root, "energy"))
        callbacks.append(cb)
    trainer = Trainer(
        accelerator="cpu", devices=1, max_epochs=1, callbacks=callbacks,
        logger=CSVLogger(root, name="bench"), log_every_n_steps=args.log_every,
        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
    )
    model = SmallNet(args.steps, args.batch, args.size)
    t = time.perf_counter()
    trainer.fit(model)
    fit_s = time.perf_counter() - t
    out = {"fit_s": fit_s, "step_s": (timer.t1 - timer.t0) / max(1, timer.n)}
    if cb is not None:
        out.update(startup_s=cb.startup_s, end_s=cb.end_s, energy_j=cb.result.it_energy_j,
                   methods=sorted({c.method for c in cb.result.components}))
    return out


def hook_microbench(n: int = 20_000) -> float:
    """Mean cost of one on_train_batch_end call with the default meters (microseconds)."""
    cb = EnergyCarbonCallback(log_every_n_steps=50)
    logger = SimpleNamespace(log_metrics=lambda m, step: None, save=lambda: None)
    trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("cpu")), log_every_n_steps=50,
                              loggers=[logger], is_global_zero=True, global_step=0)
    cb.setup(trainer, None, "fit")
    cb.on_fit_start(trainer, None)
    batch = (torch.zeros(32, 1), torch.zeros(32))
    t = time.perf_counter()
    for i in range(n):
        cb.on_train_batch_end(trainer, None, None, batch, i)
    us = (time.perf_counter() - t) / n * 1e6
    cb.teardown(trainer, None, "fit")
    return us


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pairs", type=int, default=8)
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 keeps a shared machine quieter)")
    p.add_argument("--out", default=None, help="folder for callback_overhead.json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    import logging
    import warnings

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")

    with tempfile.TemporaryDirectory() as root:
        run_once(True, args, root)  # warm-up (imports, allocator), not counted
        run_once(False, args, root)
        pairs = []
        for i in range(args.pairs):
            order = (True, False) if i % 2 == 0 else (False, True)
            res = {w: run_once(w, args, root) for w in order}
            pairs.append({"with": res[True], "without": res[False]})
            print(f"pair {i + 1}/{args.pairs}: step {res[True]['step_s'] * 1e3:.2f} vs {res[False]['step_s'] * 1e3:.2f} ms"
                  f"  fit {res[True]['fit_s']:.2f} vs {res[False]['fit_s']:.2f} s", flush=True)
    hook_us = hook_microbench()

    step_ratio = statistics.median(p["with"]["step_s"] / p["without"]["step_s"] for p in pairs)
    fit_ratio = statistics.median(p["with"]["fit_s"] / p["without"]["fit_s"] for p in pairs)
    step_ms = statistics.median(p["without"]["step_s"] for p in pairs) * 1e3
    startup_ms = statistics.median(p["with"]["startup_s"] for p in pairs) * 1e3
    end_ms = statistics.median(p["with"]["end_s"] for p in pairs) * 1e3
    summary = {
        "pairs": args.pairs, "steps": args.steps, "batch": args.batch, "image_size": args.size,
        "threads": args.threads, "log_every_n_steps": args.log_every,
        "median_step_ms_without": step_ms,
        "median_step_ratio_with_over_without": step_ratio,
        "median_fit_ratio_with_over_without": fit_ratio,
        "median_callback_startup_ms": startup_ms,
        "median_callback_fit_end_ms": end_ms,
        "hook_us_per_step": hook_us,
        "hook_share_of_step_pct": hook_us / 1e3 / step_ms * 100,
        "methods": pairs[0]["with"]["methods"],
        "python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
        "pairs_raw": pairs,
    }
    print()
    print(f"{'':34s}{'with':>12s}{'without':>12s}{'ratio':>10s}")
    ws = statistics.median(p["with"]["step_s"] for p in pairs) * 1e3
    wf = statistics.median(p["with"]["fit_s"] for p in pairs)
    nf = statistics.median(p["without"]["fit_s"] for p in pairs)
    print(f"{'median step time (ms)':34s}{ws:12.3f}{step_ms:12.3f}{step_ratio:10.4f}  (median of paired ratios)")
    print(f"{'median fit time (s)':34s}{wf:12.3f}{nf:12.3f}{fit_ratio:10.4f}  (median of paired ratios)")
    print(f"callback start-up (setup + on_fit_start): {startup_ms:.2f} ms; fit end (stop, reduce, write): {end_ms:.2f} ms")
    print(f"per-step hook (micro-benchmark): {hook_us:.1f} us = {summary['hook_share_of_step_pct']:.3f}% of a {step_ms:.2f} ms step")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        path = os.path.join(args.out, "callback_overhead.json")
        with open(path, "w") as f:
            json.dump(summary, f, indent=2)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
