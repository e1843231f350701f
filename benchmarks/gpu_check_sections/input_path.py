"""Section ``input``: the project's real input path against tensors already on the device.

Training images/s of each model through a real Lightning ``Trainer`` with ``ImageClassifier``
fed by the real data layer (synthetic data in Tiny ImageNet layout, generated into a
temporary folder and decoded once into the uint8 cache; ``pipeline=fast``: resize / augment /
normalize on the device) versus the same model and trainer fed one fixed batch of tensors
already on the device; the ratio (goal >= 0.95). For the first model also the variants of
``--input-variants`` (fast path without pinned memory, the per-image PIL reference path).
The data generation and cache build are timed too.
"""

from __future__ import annotations

import time

from .common import Budget, Skipped, guarded, image_size_of, save_progress
from .fits import data_config, timed_fit
from .markdown import cell, fmt, why

RATIO_GOAL = 0.95
INPUT_PATH_TEXT = {
    "tensors": "fixed batch of tensors already on the device (no input path)",
    "fast": "pipeline=fast (uint8 memmap cache, in-process loader, pinned memory, transform on the device)",
    "fast_no_pin": "pipeline=fast without pinned memory",
    "reference": "pipeline=reference (per-image PIL + torchvision in DataLoader workers, persistent, pinned)",
    "reference_no_persistent": "pipeline=reference, workers restarted every epoch",
}


def prepare_data(args) -> dict:
    """Generate the synthetic Tiny ImageNet tree and build the fast path's uint8 cache (timed)."""
    from sci_lightning.data import (
        SyntheticSpec,
        build_datamodule,
        generate_synthetic_tiny_imagenet,
        synthetic_root,
    )

    cfg = data_config(args, "fast")
    spec = SyntheticSpec.from_config(cfg)
    root = synthetic_root(args.data_dir, spec)
    n_images = spec.classes * (spec.train_per_class + spec.val_per_class)
    t = time.perf_counter()
    generate_synthetic_tiny_imagenet(root, spec, workers=args.cpus, progress=False)
    gen_s = time.perf_counter() - t
    dm = build_datamodule(cfg, image_size=args.synthetic_px, mean=(0.5,) * 3, std=(0.25,) * 3, progress=False)
    dm.validate()
    t = time.perf_counter()
    dm.prepare_data()  # builds the train + val uint8 caches (num_workers decode processes)
    cache_s = time.perf_counter() - t
    out = {
        "classes": spec.classes,
        "train_per_class": spec.train_per_class,
        "val_per_class": spec.val_per_class,
        "image_px": spec.image_px,
        "images": n_images,
        "generate_s": gen_s,
        "generate_workers": args.cpus,
        "generate_images_per_s": n_images / gen_s if gen_s else None,
        "cache_build_s": cache_s,
        "cache_decode_workers": cfg.num_workers,
        "cache_images_per_s": n_images / cache_s if cache_s else None,
        "root": str(root),
    }
    print(
        f"   data: {n_images} images generated in {gen_s:.1f} s, uint8 cache built in {cache_s:.1f} s",
        flush=True,
    )
    return out


def input_runs(args) -> list[tuple[str, str]]:
    """(model, path): tensors and fast for every model, the ``--input-variants`` for the first."""
    runs = []
    for i, m in enumerate(args.models):
        runs += [(m, "tensors"), (m, "fast")]
        if i == 0:
            runs += [(m, v) for v in args.input_variants]
    return runs


def run(args, report: dict, budget: Budget) -> dict:
    """The section: the data set once, then each (model, path) run of :func:`input_runs`, then the ratios."""
    sec: dict = {
        "goal_ratio": RATIO_GOAL,
        "batch": args.input_batch,
        "precision": args.precision,
        "seconds_per_run": args.input_seconds,
        "paths": {k: INPUT_PATH_TEXT[k] for k in ["tensors", "fast", *args.input_variants]},
    }
    report["sections"]["input"] = sec
    sec["data"] = guarded(report, budget, "input/data", 5, prepare_data, args)
    if "error" in sec["data"] or "skipped" in sec["data"]:
        raise Skipped("no data set")
    sec["runs"] = []
    for model_name, path in input_runs(args):
        size = image_size_of(args, model_name)
        print(f"== input {model_name} {size}px batch {args.input_batch}: {path}", flush=True)
        got = guarded(
            report,
            budget,
            f"input/{model_name}/{path}",
            args.input_seconds + args.run_overhead_s,
            timed_fit,
            args,
            model_name=model_name,
            image_size=size,
            batch=args.input_batch,
            precision=args.precision,
            seconds=args.input_seconds,
            path=path,
        )
        row = {"model": model_name, "image_size": size, "path": path, **got}
        sec["runs"].append(row)
        save_progress(args, report)
        if "images_per_s" in got:
            print(
                f"   {got['images_per_s']:.1f} img/s ({got['ms_per_step']:.2f} ms/step, {got['timed_steps']} steps)",
                flush=True,
            )
    sec["ratios"] = []
    for model_name in args.models:
        by = {r["path"]: r.get("images_per_s") for r in sec["runs"] if r["model"] == model_name}
        base = by.get("tensors")
        for path, ips in by.items():
            if path == "tensors" or not ips or not base:
                continue
            sec["ratios"].append(
                {
                    "model": model_name,
                    "path": path,
                    "ratio_to_tensors": ips / base,
                    "meets_goal": ips / base >= RATIO_GOAL if path == "fast" else None,
                }
            )
    return sec


def markdown(inp: dict) -> list[str]:
    """This section's Markdown: heading, explanation and table."""
    lines: list[str] = []
    lines += ["## Input path: real pipeline vs tensors already on the device", ""]
    if "runs" in inp:
        d = inp.get("data", {})
        lines += [
            f"Lightning `Trainer.fit` of `ImageClassifier` (AdamW, {inp['precision']}, channels_last, "
            f"cudnn.benchmark), batch {inp['batch']}, ~{inp['seconds_per_run']:g} s timed per run after warm-up. "
            f"Data: synthetic Tiny ImageNet layout, {d.get('classes')} classes x {d.get('train_per_class')} train "
            f"images of {d.get('image_px')} px, augmentation on.",
            "",
            "| model | px | input path | img/s | ms/step | ratio to tensors |",
            "|---|---|---|---|---|---|",
        ]
        ratios = {(r["model"], r["path"]): r["ratio_to_tensors"] for r in inp.get("ratios", [])}
        for r in inp["runs"]:
            lines.append(
                f"| {r['model']} | {r['image_size']} | {r['path']} | {cell(r, 'images_per_s', '.1f')} | "
                f"{cell(r, 'ms_per_step', '.2f')} | {fmt(ratios.get((r['model'], r['path'])), '.3f')} |"
            )
        met = [r for r in inp.get("ratios", []) if r["path"] == "fast"]
        if met:
            lines += [
                "",
                f"Goal ratio (fast / tensors) >= {inp['goal_ratio']:.2f}: "
                + ", ".join(
                    f"{r['model']} {r['ratio_to_tensors']:.3f} ({'met' if r['meets_goal'] else 'NOT met'})"
                    for r in met
                ),
            ]
        lines += ["", "Paths: " + "; ".join(f"`{k}`: {v}" for k, v in inp["paths"].items()) + "."]
        if "generate_s" in d:
            lines += [
                "",
                f"Data preparation (one-off): {d['images']} JPEGs generated in {d['generate_s']:.2f} s "
                f"({d['generate_workers']} processes), uint8 cache built in {d['cache_build_s']:.2f} s "
                f"({d['cache_decode_workers']} decode processes).",
            ]
    else:
        lines += [f"Not measured: {why(inp)}"]
    lines.append("")
    return lines
