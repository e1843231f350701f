"""One prepared check of the energy measurement on an NVIDIA GPU (finishes in < 8 minutes).

For each model (timm ``inception_v3`` and ``densenet121``, random init, no download) it
trains on synthetic 224 px tensors (bf16 autocast where the GPU supports it) and reports:

* GPU energy from the NVML energy counter vs NVML power sampling (trapezoid rule) over
  the same window, and their agreement in %;
* the overhead of :class:`EnergyCarbonCallback` (paired runs with/without, alternating
  order, median of the ratios of steady-state step time);
* images per second; GPU name and driver version.

It writes ``gpu_check.json`` and ``gpu_check.md`` into ``--out`` (default
``docs/measurements``). Everything it needs is built here (no project data module).

On a machine without a GPU, ``--tiny`` runs the same pipeline on CPU with a tiny timm
test model, small images and few steps, to show the script works::

    PYTHONPATH=src python benchmarks/gpu_check.py                 # on the GPU machine
    PYTHONPATH=src python benchmarks/gpu_check.py --tiny --out /tmp/gpu_check_tiny
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
import warnings
from datetime import datetime, timezone

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
from sci_lightning.callback import EnergyCarbonCallback  # noqa: E402
from sci_lightning.energy import NvmlEnergyMeter  # noqa: E402


class SyntheticClassifier(LightningModule):
    """A timm model trained on one fixed random batch kept on the device (no input pipeline cost)."""

    def __init__(self, model_name: str, image_size: int, batch: int, num_classes: int = 200) -> None:
        super().__init__()
        import timm

        self.net = timm.create_model(model_name, pretrained=False, num_classes=num_classes)
        self.image_size, self.batch, self.num_classes = image_size, batch, num_classes
        self.register_buffer("x", torch.randn(batch, 3, image_size, image_size), persistent=False)
        self.register_buffer("y", torch.randint(0, num_classes, (batch,)), persistent=False)

    def training_step(self, batch, batch_idx):
        out = self.net(self.x)
        if isinstance(out, tuple):  # inception aux logits in some versions
            out = out[0]
        return torch.nn.functional.cross_entropy(out, self.y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01, momentum=0.9)


def _loader(steps: int, batch: int) -> DataLoader:
    # indices only: batch[0] has `batch` rows so the callback counts images correctly
    return DataLoader(TensorDataset(torch.arange(steps * batch)), batch_size=batch)


class StepTimer(Callback):
    """Steady-state time per step (after ``skip`` warm-up steps), synchronized on CUDA."""

    def __init__(self, skip: int) -> None:
        self.skip, self.t0, self.t1, self.n = skip, 0.0, 0.0, 0

    def _now(self, trainer) -> float:
        if trainer.strategy.root_device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if batch_idx == self.skip:
            self.t0 = self._now(trainer)
        elif batch_idx > self.skip:
            self.n += 1
            if batch_idx == trainer.num_training_batches - 1:
                self.t1 = self._now(trainer)

    @property
    def step_s(self) -> float:
        return (self.t1 - self.t0) / max(1, self.n)


def _fit(model: SyntheticClassifier, steps: int, args, callbacks: list[Callback]) -> None:
    trainer = Trainer(
        accelerator=args.accelerator, devices=1, precision=args.precision, max_epochs=1,
        callbacks=callbacks, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=args.out,
    )
    trainer.fit(model, train_dataloaders=_loader(steps, model.batch))


def gpu_info() -> dict:
    """GPU name, driver and NVML version where NVML is present."""
    try:
        import pynvml

        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        info = {"gpu": str(pynvml.nvmlDeviceGetName(h)), "driver": str(pynvml.nvmlSystemGetDriverVersion()),
                "nvml": str(pynvml.nvmlSystemGetNVMLVersion())}
        try:
            info["power_limit_w"] = pynvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1000
        except pynvml.NVMLError:
            pass
        pynvml.nvmlShutdown()
        return info
    except Exception as err:  # noqa: BLE001 - report, don't fail
        return {"gpu": None, "driver": None, "nvml_error": repr(err)}


def check_model(name: str, args) -> dict:
    print(f"== {name}: building", flush=True)
    model = SyntheticClassifier(name, args.image_size, args.batch)
    # warm-up fit (kernel selection, allocator, first-call costs), then calibrate the
    # number of steps for the target duration
    _fit(model, 2 * args.warmup + 5, args, [])
    timer = StepTimer(skip=args.warmup)
    _fit(model, args.warmup + 10, args, [timer])
    step_s = max(timer.step_s, 1e-4)
    steps = max(args.warmup + 10, int(args.seconds / step_s) + args.warmup)
    print(f"   {step_s * 1e3:.1f} ms/step -> {steps} steps for ~{args.seconds:.0f} s", flush=True)

    # energy: counter and power sampling over the same window, plus the callback itself
    cuda = args.accelerator == "gpu"
    counter = NvmlEnergyMeter([0], mode="auto") if cuda else None
    sampler = NvmlEnergyMeter([0], mode="sampling", sampling_interval_s=args.sampling_interval) if cuda else None
    timer = StepTimer(skip=args.warmup)
    cb = EnergyCarbonCallback(energy={"rapl_root": "/sys/class/powercap"}, output_dir=os.path.join(args.out, f"gpu_check_{name}"))
    for m in (counter, sampler):
        if m is not None:
            m.start()
    if cuda:
        torch.cuda.synchronize()
    t = time.perf_counter()
    _fit(model, steps, args, [timer, cb])
    if cuda:
        torch.cuda.synchronize()
    window_s = time.perf_counter() - t
    energy: dict = {"window_s": window_s}
    for label, m in (("counter", counter), ("sampling", sampler)):
        if m is None:
            energy[f"{label}_j"] = None
            continue
        m.stop()
        comps = m.components()
        energy[f"{label}_j"] = sum(c.energy_j for c in comps)
        energy[f"{label}_methods"] = sorted({c.method for c in comps})
        energy[f"{label}_notes"] = sorted({n for c in comps for n in c.notes})
    if energy.get("counter_j") and energy.get("sampling_j") is not None:
        energy["agreement_pct"] = abs(energy["sampling_j"] - energy["counter_j"]) / energy["counter_j"] * 100
        energy["mean_power_w"] = energy["counter_j"] / window_s
    res = cb.result
    energy["callback_components"] = [
        {"component": c.component, "device": c.device, "method": c.method, "quality": c.quality,
         "energy_j": c.energy_j, "status": c.status} for c in res.components
    ]
    energy["callback_it_energy_j"] = res.it_energy_j
    images_per_s = args.batch / timer.step_s

    # overhead: paired runs, alternating order
    ratios, with_s, without_s = [], [], []
    n_over = max(args.warmup + 10, steps // 4)
    for i in range(args.pairs):
        order = (True, False) if i % 2 == 0 else (False, True)
        got = {}
        for with_cb in order:
            tm = StepTimer(skip=args.warmup)
            cbs: list[Callback] = [tm]
            if with_cb:
                cbs.append(EnergyCarbonCallback(output_dir=os.path.join(args.out, f"gpu_check_{name}", "overhead")))
            _fit(model, n_over, args, cbs)
            got[with_cb] = tm.step_s
        ratios.append(got[True] / got[False])
        with_s.append(got[True])
        without_s.append(got[False])
        print(f"   pair {i + 1}: {got[True] * 1e3:.2f} vs {got[False] * 1e3:.2f} ms/step", flush=True)
    out = {
        "model": name, "image_size": args.image_size, "batch": args.batch, "precision": args.precision,
        "steps": steps, "ms_per_step": timer.step_s * 1e3, "images_per_s": images_per_s, "energy": energy,
        "overhead": {"pairs": args.pairs, "steps_per_run": n_over, "median_ratio": statistics.median(ratios),
                     "ratios": ratios, "ms_with": [s * 1e3 for s in with_s], "ms_without": [s * 1e3 for s in without_s]},
    }
    print(f"   {images_per_s:.1f} img/s; counter {energy.get('counter_j')} J vs sampling {energy.get('sampling_j')} J; "
          f"overhead ratio {out['overhead']['median_ratio']:.4f}", flush=True)
    return out


def _fmt(v, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def write_markdown(path: str, report: dict) -> None:
    lines = [
        f"# GPU check ({report['mode']})",
        "",
        f"- Date (UTC): {report['date_utc']}",
        f"- GPU: {report['gpu'].get('gpu')}, driver {report['gpu'].get('driver')}",
        f"- torch {report['torch']}, python {report['python']}",
        f"- Command: `{report['command']}`",
        "",
        "| model | px | batch | precision | img/s | counter J (measured) | sampling J (measured) | agreement % | mean W | callback overhead (median ratio) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in report["models"]:
        e = m["energy"]
        lines.append(
            f"| {m['model']} | {m['image_size']} | {m['batch']} | {m['precision']} | {m['images_per_s']:.1f} | "
            f"{_fmt(e.get('counter_j'), '.1f')} | {_fmt(e.get('sampling_j'), '.1f')} | {_fmt(e.get('agreement_pct'), '.2f')} | "
            f"{_fmt(e.get('mean_power_w'), '.1f')} | {m['overhead']['median_ratio']:.4f} |"
        )
    lines += [
        "",
        "Counter: NVML `nvmlDeviceGetTotalEnergyConsumption`; sampling: NVML power samples every "
        f"{report['sampling_interval_s']} s integrated with the trapezoid rule, over the same window.",
        "Overhead: steady-state time per step with / without `EnergyCarbonCallback`, paired runs in alternating order.",
        "",
    ]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main() -> None:
    p = argparse.ArgumentParser(description="Energy measurement check on an NVIDIA GPU")
    p.add_argument("--tiny", action="store_true", help="CPU smoke run: tiny model, 32 px, few steps")
    p.add_argument("--models", nargs="+", default=None)
    p.add_argument("--seconds", type=float, default=None, help="training time per model for the energy window")
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--pairs", type=int, default=None, help="with/without pairs for the overhead")
    p.add_argument("--warmup", type=int, default=None)
    p.add_argument("--sampling-interval", type=float, default=0.1)
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "docs", "measurements"))
    args = p.parse_args()
    cuda = torch.cuda.is_available() and not args.tiny
    tiny = args.tiny or not cuda
    defaults = ({"models": ["test_resnet", "test_efficientnet"], "seconds": 3.0, "image_size": 32, "batch": 8,
                 "pairs": 2, "warmup": 3}
                if tiny else
                {"models": ["inception_v3", "densenet121"], "seconds": 60.0, "image_size": 224, "batch": 64,
                 "pairs": 2, "warmup": 10})
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    args.accelerator = "gpu" if cuda else "cpu"
    args.precision = ("bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed") if cuda else "32-true"
    if cuda:
        torch.backends.cudnn.benchmark = True
    os.makedirs(args.out, exist_ok=True)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")

    t0 = time.perf_counter()
    report = {
        "mode": "gpu" if cuda else "tiny (CPU smoke run)",
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python " + " ".join(sys.argv),
        "gpu": gpu_info() if cuda else {"gpu": None, "driver": None},
        "torch": torch.__version__, "python": platform.python_version(),
        "sampling_interval_s": args.sampling_interval,
        "models": [],
    }
    for name in args.models:
        try:
            report["models"].append(check_model(name, args))
        except Exception as err:  # noqa: BLE001 - keep the other model's figures
            print(f"   {name} failed: {err!r}", flush=True)
            report.setdefault("errors", []).append({"model": name, "error": repr(err)})
    report["total_s"] = time.perf_counter() - t0
    stem = "gpu_check" if cuda else "gpu_check_tiny"
    with open(os.path.join(args.out, f"{stem}.json"), "w") as f:
        json.dump(report, f, indent=2)
    write_markdown(os.path.join(args.out, f"{stem}.md"), report)
    print(f"wrote {os.path.join(args.out, stem)}.json/.md in {report['total_s']:.0f} s")
    sys.exit(1 if report.get("errors") else 0)


if __name__ == "__main__":
    main()
