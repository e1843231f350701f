"""Section ``energy``: what the project's energy measurement reads on this card, and what it costs.

For each model (random init, one fixed batch on the device): the NVML energy counter
(``nvmlDeviceGetTotalEnergyConsumption``) and NVML power samples integrated with the
trapezoid rule, over the same window of a real ``Trainer.fit`` that also carries
:class:`EnergyCarbonCallback` (agreement %, mean W, the callback's own components);
images/s; and the callback's overhead as the median ratio of ms per step with / without
it over paired runs in alternating order.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

import torch
from lightning.pytorch.callbacks import Callback

from sci_lightning.energy import EnergyMonitor, NvmlEnergyMeter
from sci_lightning.lightning.callback import EnergyCarbonCallback

from .common import Budget, guarded, save_progress
from .fits import StepTimer, SyntheticClassifier, calibrate_steps, fit_fixed
from .markdown import fmt


def check_model(name: str, args) -> dict:
    """Energy window, images/s and callback overhead of one model."""
    print(f"== energy {name}: building", flush=True)
    model = SyntheticClassifier(name, args.image_size, args.batch)
    step_s, steps = calibrate_steps(model, args, args.seconds, 1e-4)
    print(f"   {step_s * 1e3:.1f} ms/step -> {steps} steps for ~{args.seconds:.0f} s", flush=True)
    energy, timer = energy_window(model, name, steps, args)
    images_per_s = args.batch / timer.step_s
    overhead = callback_overhead(model, name, steps, args)
    out = {
        "model": name,
        "image_size": args.image_size,
        "batch": args.batch,
        "precision": args.precision,
        "steps": steps,
        "ms_per_step": timer.step_s * 1e3,
        "images_per_s": images_per_s,
        "energy": energy,
        "overhead": overhead,
    }
    print(
        f"   {images_per_s:.1f} img/s; counter {energy.get('counter_j')} J vs sampling {energy.get('sampling_j')} J; "
        f"overhead ratio {out['overhead']['median_ratio']:.4f}",
        flush=True,
    )
    return out


def _nvml_monitors(args) -> dict:
    """The counter and the power-sampling monitor of GPU 0 (None each on CPU)."""
    cuda = args.accelerator == "gpu"
    return {
        "counter": EnergyMonitor([NvmlEnergyMeter([0], mode="auto")], device_indices=[0]) if cuda else None,
        "sampling": EnergyMonitor(
            [NvmlEnergyMeter([0], mode="sampling", sampling_interval_s=args.sampling_interval)],
            device_indices=[0],
        )
        if cuda
        else None,
    }


def energy_window(model: SyntheticClassifier, name: str, steps: int, args) -> tuple[dict, StepTimer]:
    """Counter and power sampling over the same window, plus the callback itself."""
    monitors = _nvml_monitors(args)
    timer = StepTimer(skip=args.warmup)
    runs = os.path.join(args.out, "gpu_check_runs")
    os.makedirs(runs, exist_ok=True)
    # a new folder each invocation: the callback refuses a folder holding an earlier run's results
    cb = EnergyCarbonCallback(
        energy={"rapl_root": "/sys/class/powercap"}, output_dir=tempfile.mkdtemp(prefix=f"{name}_", dir=runs)
    )
    for monitor in monitors.values():
        if monitor is not None:
            monitor.begin_window("window")  # synchronizes the device
    t = time.perf_counter()
    fit_fixed(model, steps, args, [timer, cb])
    if args.accelerator == "gpu":
        torch.cuda.synchronize()
    window_s = time.perf_counter() - t
    energy: dict = {"window_s": window_s}
    for label, monitor in monitors.items():
        if monitor is None:
            energy[f"{label}_j"] = None
            continue
        measured = monitor.end_window("window")
        monitor.close()
        energy[f"{label}_j"] = measured.energy_j
        energy[f"{label}_methods"] = sorted({c.method for c in measured.components})
        energy[f"{label}_notes"] = sorted({n for c in measured.components for n in c.notes})
    if energy.get("counter_j") and energy.get("sampling_j") is not None:
        energy["agreement_pct"] = abs(energy["sampling_j"] - energy["counter_j"]) / energy["counter_j"] * 100
        energy["mean_power_w"] = energy["counter_j"] / window_s
    res = cb.result
    energy["callback_components"] = [
        {
            "component": c.component,
            "device": c.device,
            "method": c.method,
            "quality": c.quality,
            "energy_j": c.energy_j,
            "status": c.status,
        }
        for c in res.components
    ]
    energy["callback_it_energy_j"] = res.it_energy_j
    return energy, timer


def callback_overhead(model: SyntheticClassifier, name: str, steps: int, args) -> dict:
    """ms per step with / without the callback: paired runs, alternating order."""
    ratios, with_s, without_s = [], [], []
    n_over = max(args.warmup + 10, steps // 4)
    for i in range(args.pairs):
        order = (True, False) if i % 2 == 0 else (False, True)
        got = {}
        for with_cb in order:
            tm = StepTimer(skip=args.warmup)
            cbs: list[Callback] = [tm]
            if with_cb:
                cbs.append(
                    EnergyCarbonCallback(output_dir=os.path.join(args.scratch, f"overhead_{name}_{i}"))
                )
            fit_fixed(model, n_over, args, cbs)
            got[with_cb] = tm.step_s
        ratios.append(got[True] / got[False])
        with_s.append(got[True])
        without_s.append(got[False])
        print(f"   pair {i + 1}: {got[True] * 1e3:.2f} vs {got[False] * 1e3:.2f} ms/step", flush=True)
    return {
        "pairs": args.pairs,
        "steps_per_run": n_over,
        "median_ratio": statistics.median(ratios),
        "ratios": ratios,
        "ms_with": [s * 1e3 for s in with_s],
        "ms_without": [s * 1e3 for s in without_s],
    }


def run(args, report: dict, budget: Budget) -> dict:
    """The section: every model of ``--models`` at the energy settings (224 px on a GPU)."""
    if args.accelerator == "gpu":
        torch.backends.cudnn.benchmark = True
    sec: dict = {
        "image_size": args.image_size,
        "batch": args.batch,
        "seconds": args.seconds,
        "sampling_interval_s": args.sampling_interval,
        "models": [],
    }
    report["sections"]["energy"] = sec
    for name in args.models:
        got = guarded(report, budget, f"energy/{name}", estimate_s(args), check_model, name, args)
        if "model" in got:
            sec["models"].append(got)
        save_progress(args, report)
    return sec


def estimate_s(args) -> float:
    """Seconds one model of this section takes (for the budget and the script's estimate)."""
    fits = 3 + 2 * args.pairs
    return args.seconds * (1 + args.pairs / 2) + fits * args.run_overhead_s / 2 + 5


def markdown(en: dict) -> list[str]:
    """This section's Markdown: heading, explanation and table."""
    lines: list[str] = []
    lines += [
        "## Energy measurement and callback overhead",
        "",
        "| model | px | batch | precision | img/s | counter J (measured) | sampling J (measured) | agreement % "
        "| mean W | callback overhead (median ratio) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in en.get("models", []):
        e = m["energy"]
        lines.append(
            f"| {m['model']} | {m['image_size']} | {m['batch']} | {m['precision']} | {m['images_per_s']:.1f} | "
            f"{fmt(e.get('counter_j'), '.1f')} | {fmt(e.get('sampling_j'), '.1f')} | {fmt(e.get('agreement_pct'), '.2f')} | "
            f"{fmt(e.get('mean_power_w'), '.1f')} | {m['overhead']['median_ratio']:.4f} |"
        )
    lines += [
        "",
        "Counter: NVML `nvmlDeviceGetTotalEnergyConsumption`; sampling: NVML power samples every "
        f"{en.get('sampling_interval_s')} s integrated with the trapezoid rule, over the same window. "
        "Overhead: steady-state time per step with / without `EnergyCarbonCallback`, paired runs in "
        "alternating order.",
        "",
    ]
    return lines
