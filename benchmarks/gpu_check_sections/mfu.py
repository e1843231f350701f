"""Section ``mfu``: model FLOPs utilization against the card's measured peak.

Training-step FLOPs (forward + loss + backward of one batch, counted with
``torch.utils.flop_counter.FlopCounterMode`` on the device) x the images/s of the ``input``
section's runs / the peak FLOP/s of a large matmul in the training dtype (CUDA events,
best of several trials). FLOPs are counted, not measured; the rest is measured.
"""

from __future__ import annotations

import contextlib
import statistics
import time

import torch
import torch.nn.functional as F

from .common import Budget, device_of, free_memory, guarded, image_size_of, sync
from .markdown import fmt, why


def measure_peak(args) -> dict:
    """Best FLOP/s of an n x n x n matmul in the training dtype (CUDA events on the GPU)."""
    device = device_of(args)
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(args.precision, torch.float32)
    n, reps = args.peak_n, args.peak_reps
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    c = torch.empty(n, n, device=device, dtype=dtype)
    for _ in range(3):
        torch.mm(a, b, out=c)
    sync(device)
    times = []
    for _ in range(args.peak_trials):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(reps):
                torch.mm(a, b, out=c)
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3 / reps)
        else:
            t = time.perf_counter()
            for _ in range(reps):
                torch.mm(a, b, out=c)
            times.append((time.perf_counter() - t) / reps)
    best = min(times)
    del a, b, c
    free_memory()
    flops = 2 * n**3
    return {
        "dtype": str(dtype).replace("torch.", ""),
        "n": n,
        "reps": reps,
        "trials": args.peak_trials,
        "best_s_per_matmul": best,
        "median_s_per_matmul": statistics.median(times),
        "peak_flop_per_s": flops / best,
        "median_flop_per_s": flops / statistics.median(times),
        "timing": "CUDA events" if device.type == "cuda" else "perf_counter (CPU)",
    }


def count_train_flops(args, model_name: str, image_size: int, batch: int) -> dict:
    """FLOPs of one training step (forward + loss + backward) of the network, counted on the device."""
    from torch.utils.flop_counter import FlopCounterMode

    from sci_lightning.lightning.classifier import ImageClassifier

    device = device_of(args)
    model = ImageClassifier(
        model_name, num_classes=args.synthetic_classes, image_size=image_size, channels_last=True
    )
    net = model.model.to(device).train()
    x = torch.randn(batch, 3, image_size, image_size, device=device).contiguous(
        memory_format=torch.channels_last
    )
    y = torch.randint(0, args.synthetic_classes, (batch,), device=device)
    amp = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(args.precision)
    ctx = torch.autocast(device.type, dtype=amp) if amp is not None else contextlib.nullcontext()
    with FlopCounterMode(display=False) as fc:
        with ctx:
            loss = F.cross_entropy(net(x).float(), y)
        loss.backward()
    total = int(fc.get_total_flops())
    del model, net, x, y, loss
    free_memory()
    return {
        "model": model_name,
        "image_size": image_size,
        "counted_batch": batch,
        "flops_per_step": total,
        "flops_per_image": total / batch,
    }


def run(args, report: dict, budget: Budget) -> dict:
    """The section: the peak, then each model's counted FLOPs x the ``input`` runs' images/s."""
    sec: dict = {"peak": guarded(report, budget, "mfu/peak", 3, measure_peak, args), "models": []}
    report["sections"]["mfu"] = sec
    peak = sec["peak"].get("peak_flop_per_s")
    if peak:
        print(
            f"== mfu: measured peak {peak / 1e12:.3g} TFLOP/s ({sec['peak']['dtype']} {args.peak_n}^3 matmul)",
            flush=True,
        )
    runs = (report.get("sections", {}).get("input") or {}).get("runs", [])
    for model_name in args.models:
        size = image_size_of(args, model_name)
        got = guarded(
            report,
            budget,
            f"mfu/{model_name}",
            3,
            count_train_flops,
            args,
            model_name,
            size,
            args.input_batch,
        )
        row = dict(got, model=model_name, image_size=size)
        per_image = got.get("flops_per_image")
        for r in runs:
            if r["model"] == model_name and r.get("images_per_s") and per_image:
                achieved = per_image * r["images_per_s"]
                row[f"achieved_flop_per_s_{r['path']}"] = achieved
                row[f"mfu_{r['path']}"] = achieved / peak if peak else None
        if per_image:
            print(
                f"   {model_name}: {per_image / 1e9:.2f} GFLOP/image (train step); "
                f"MFU tensors {fmt(row.get('mfu_tensors'), '.3f')}, fast {fmt(row.get('mfu_fast'), '.3f')}",
                flush=True,
            )
        sec["models"].append(row)
    return sec


def markdown(mfu: dict) -> list[str]:
    """This section's Markdown: heading, explanation and table."""
    lines: list[str] = []
    pk = mfu.get("peak", {})
    lines += ["## Model FLOPs utilization", ""]
    if "peak_flop_per_s" in pk:
        lines += [
            f"Measured peak: {pk['peak_flop_per_s'] / 1e12:.3g} TFLOP/s ({pk['dtype']} {pk['n']}^3 matmul, "
            f"best of {pk['trials']} x {pk['reps']}, {pk['timing']}).",
            "",
        ]
    else:
        lines += [f"Peak not measured: {why(pk)}", ""]
    lines += [
        "| model | px | GFLOP per image (train step, counted) | TFLOP/s tensors | MFU tensors | "
        "TFLOP/s fast path | MFU fast path |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in mfu.get("models", []):
        lines.append(
            f"| {r['model']} | {r['image_size']} | {fmt(r.get('flops_per_image') and r['flops_per_image'] / 1e9, '.2f')} | "
            f"{fmt(r.get('achieved_flop_per_s_tensors') and r['achieved_flop_per_s_tensors'] / 1e12, '.3g')} | "
            f"{fmt(r.get('mfu_tensors'), '.3f')} | "
            f"{fmt(r.get('achieved_flop_per_s_fast') and r['achieved_flop_per_s_fast'] / 1e12, '.3g')} | "
            f"{fmt(r.get('mfu_fast'), '.3f')} |"
        )
    lines += [
        "",
        "FLOPs: `torch.utils.flop_counter.FlopCounterMode` over forward + loss + backward of one batch "
        "(matmul/convolution FLOPs; element-wise ops not counted; optimizer step not counted). "
        "MFU = FLOPs per image x images/s of the input-path runs / measured peak.",
        "",
    ]
    return lines
