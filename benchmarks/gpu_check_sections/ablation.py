"""Section ``ablation``: the ``trainer=gpu`` defaults, one setting changed at a time.

One model with tensors on the device (no input path) through :func:`fits.timed_fit`:
bf16-mixed vs fp16-mixed vs fp32, channels_last on / off, cudnn.benchmark on / off;
``--compile`` adds torch.compile (minutes of compilation). Each setting's images/s and its
ratio to the default; settings this device cannot run are recorded as skipped.
"""

from __future__ import annotations

import torch

from .common import Budget, guarded, image_size_of, record_skip, save_progress
from .fits import timed_fit
from .markdown import cell, fmt, why


def ablation_settings(args) -> list[tuple[str, dict]]:
    """The default, then one setting changed at a time; ``skip`` says why one cannot run here."""
    cuda = args.accelerator == "gpu"
    default = {"precision": args.precision, "channels_last": True, "benchmark": True}
    settings = [("default", default)]
    for prec, name in (("bf16-mixed", "bf16_mixed"), ("16-mixed", "fp16_mixed"), ("32-true", "fp32")):
        if prec != args.precision:
            settings.append((name, dict(default, precision=prec)))
    settings += [
        ("no_channels_last", dict(default, channels_last=False)),
        ("no_cudnn_benchmark", dict(default, benchmark=False)),
    ]
    if args.compile:
        settings.append(("compile", dict(default, compile_model=True)))
    out = []
    for name, s in settings:
        why = None
        if not cuda and s["precision"] == "16-mixed":
            why = "fp16 mixed precision is a GPU setting"
        elif cuda and s["precision"] == "bf16-mixed" and not torch.cuda.is_bf16_supported():
            why = "this GPU has no bf16"
        out.append((name, dict(s, skip=why)))
    return out


def run(args, report: dict, budget: Budget) -> dict:
    """The section: each setting of :func:`ablation_settings`, then the ratios to the default."""
    model_name = args.ablation_model or args.models[0]
    size = image_size_of(args, model_name)
    sec: dict = {
        "model": model_name,
        "image_size": size,
        "batch": args.input_batch,
        "input": "tensors on the device",
        "seconds_per_run": args.ablation_seconds,
        "tf32": {
            "cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
        },
        "runs": [],
    }
    report["sections"]["ablation"] = sec
    for name, s in ablation_settings(args):
        s = dict(s)
        why = s.pop("skip")
        print(f"== ablation {model_name}: {name} {s}", flush=True)
        if why:
            got = record_skip(report, f"ablation/{name}", why)
        else:
            need = (
                args.ablation_seconds
                + args.run_overhead_s
                + (args.compile_s if s.get("compile_model") else 0)
            )
            got = guarded(
                report,
                budget,
                f"ablation/{name}",
                need,
                timed_fit,
                args,
                model_name=model_name,
                image_size=size,
                batch=args.input_batch,
                seconds=args.ablation_seconds,
                path="tensors",
                **s,
            )
        if "images_per_s" in got:
            print(f"   {got['images_per_s']:.1f} img/s", flush=True)
        sec["runs"].append({"setting": name, **s, **got})
        save_progress(args, report)
    base = next((r.get("images_per_s") for r in sec["runs"] if r["setting"] == "default"), None)
    for r in sec["runs"]:
        if base and r.get("images_per_s"):
            r["ratio_to_default"] = r["images_per_s"] / base
    if torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True
    return sec


def markdown(abl: dict) -> list[str]:
    """This section's Markdown: heading, explanation and table."""
    lines: list[str] = []
    lines += ["## trainer=gpu settings, one at a time", ""]
    if "runs" in abl:
        lines += [
            f"{abl['model']} at {abl['image_size']} px, batch {abl['batch']}, tensors on the device, "
            f"~{abl['seconds_per_run']:g} s timed per setting. TF32: {abl['tf32']}.",
            "",
            "| setting | precision | channels_last | cudnn.benchmark | compile | img/s | ratio to default |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in abl["runs"]:
            lines.append(
                f"| {r['setting']} | {r.get('precision')} | {r.get('channels_last')} | {r.get('benchmark')} "
                f"| {bool(r.get('compile_model'))} | {cell(r, 'images_per_s', '.1f')} | "
                f"{fmt(r.get('ratio_to_default'), '.3f')} |"
            )
    else:
        lines += [f"Not measured: {why(abl)}"]
    lines.append("")
    return lines
