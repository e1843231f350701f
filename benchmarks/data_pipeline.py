"""Images per second delivered as model-ready tensors: reference ImageFolder + PIL vs the fast path.

Both paths read the same synthetic tree in the Tiny ImageNet layout (default: 100 000
train images of 64 x 64 in 200 classes, generated once under the cache dir and reused),
use the same DataLoader batch size and number of worker processes, and are measured
side by side in one run: repeats are interleaved (ref, fast, ref, fast, ...) so that a
change of machine load hits both; the medians and their ratio are reported.

* reference: what a user would write: ``torchvision.datasets.ImageFolder(train/,
  Compose([Resize(S), ToTensor(), Normalize(mean, std)]))`` + ``DataLoader(shuffle=True)``.
* fast: ``sci_lightning.data`` with ``pipeline=fast`` as configured by default: uint8
  batches sliced from the cache in the main process (``fast_num_workers=0``), then
  ``transform_batch`` (resize + normalize, batched) on the CPU here (on the GPU when
  training there).
* fast_same_workers: the same, but the uint8 batches come from ``--workers`` DataLoader
  worker processes, exactly like the reference.

Each timing starts a fresh iterator over the shuffled train set, skips ``--warmup``
batches (worker start-up) and times the next ``--batches`` batches, including the
tensor being ready in the main process. The one-off uint8 cache build is timed
separately. Example (the recorded full-size run)::

    PYTHONPATH=src .venv/bin/python benchmarks/data_pipeline.py --images 100000 \
        --out docs/measurements/data_pipeline.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sci_lightning.data import DataConfig, build_datamodule  # noqa: E402
from sci_lightning.data.synthetic import SyntheticSpec, generate_synthetic_tiny_imagenet, synthetic_root  # noqa: E402
from sci_lightning.data.tiny_imagenet import resolve_cache_dir  # noqa: E402

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def reference_loader(train_dir: Path, image_size: int, batch_size: int, workers: int) -> DataLoader:
    from torchvision import datasets
    from torchvision import transforms as T

    tf = T.Compose([T.Resize(image_size), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    ds = datasets.ImageFolder(str(train_dir), transform=tf)
    return DataLoader(ds, batch_size=batch_size, shuffle=True, num_workers=workers)


def time_batches(make_iter, transform, warmup: int, batches: int) -> dict:
    """Images/s over ``batches`` batches after ``warmup`` batches of a fresh iterator."""
    it = make_iter()
    for _ in range(warmup):
        transform(next(it))
    load_before = os.getloadavg()[0]
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    n = 0
    for _ in range(batches):
        x, y = transform(next(it))
        assert x.dtype == torch.float32 and x.ndim == 4
        n += x.shape[0]
    dt = time.perf_counter() - t0
    cpu_main = time.process_time() - cpu0
    del it
    return {
        "images": n,
        "seconds": dt,
        "images_per_s": n / dt,
        "main_cpu_s": cpu_main,
        "load1_before": load_before,
    }


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument(
        "--images", type=int, default=100_000, help="train images in the synthetic tree (default 100000)"
    )
    ap.add_argument("--classes", type=int, default=200)
    ap.add_argument("--val-per-class", type=int, default=10, help="val images per class (not timed)")
    ap.add_argument("--image-size", type=int, default=224, help="side of the model-ready tensors")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2, help="DataLoader worker processes, both paths")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved timings per path")
    ap.add_argument("--batches", type=int, default=40, help="timed batches per repeat")
    ap.add_argument("--warmup", type=int, default=4, help="untimed batches per repeat")
    ap.add_argument(
        "--augment", action="store_true", help="also time train augmentation (crop + flip) on both paths"
    )
    ap.add_argument(
        "--time-cache-build",
        action="store_true",
        help="also time a from-scratch build of the uint8 train cache (into a temporary folder)",
    )
    ap.add_argument(
        "--cache-dir", default=None, help="default: $SCI_LIGHTNING_CACHE or ~/.cache/sci_lightning"
    )
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    return ap.parse_args(argv)


def _prepare(args: argparse.Namespace, cache_dir: Path) -> tuple[Any, Path, dict[str, float]]:
    """The synthetic tree and the fast path's datamodule (its cache built or reused), and how long each took."""
    per_class = max(1, args.images // args.classes)
    spec = SyntheticSpec(
        classes=args.classes, train_per_class=per_class, val_per_class=args.val_per_class, image_px=64
    )
    root = synthetic_root(cache_dir, spec)
    t0 = time.perf_counter()
    generate_synthetic_tiny_imagenet(root, spec, workers=args.workers)
    gen_s = time.perf_counter() - t0
    cfg = DataConfig(
        name="synthetic",
        cache_dir=str(cache_dir),
        batch_size=args.batch_size,
        num_workers=args.workers,
        synthetic_classes=args.classes,
        synthetic_train_per_class=per_class,
        synthetic_val_per_class=args.val_per_class,
        augment=False,
    )
    dm = build_datamodule(cfg, image_size=args.image_size, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    t0 = time.perf_counter()
    dm.validate()
    dm.prepare_data()
    dm.setup("fit")
    prep_s = time.perf_counter() - t0
    return dm, root, {"generate_tree_or_reuse": gen_s, "validate_and_fast_cache_build_or_reuse": prep_s}


def _time_cache_build(args: argparse.Namespace, dm: Any, root: Path, cache_dir: Path) -> dict[str, Any]:
    """A from-scratch build of the uint8 train cache, in a temporary folder."""
    import tempfile

    from sci_lightning.data.fast import build_uint8_cache

    paths = [p for p, _ in dm.index.train]
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        t0 = time.perf_counter()
        build_uint8_cache(paths, tmp, key="train", source_root=root, num_workers=args.workers)
        dt = time.perf_counter() - t0
    print(f"uint8 cache build from scratch: {len(paths)} images in {dt:.1f} s ({len(paths) / dt:.0f} img/s)")
    return {"images": len(paths), "processes": args.workers, "seconds": dt, "images_per_s": len(paths) / dt}


def _cases(args: argparse.Namespace, dm: Any, root: Path) -> list[tuple[str, Callable, Callable]]:
    """(name, make an iterator of batches, the batch transform) of every path timed."""
    from sci_lightning.data.fast import collate_prebatched

    fast_loader = dm.train_dataloader()  # default fast_num_workers=0: batches read in-process
    fast_workers_loader = DataLoader(  # the same DataLoader worker count as the reference
        dm.train_dataset,
        batch_size=args.batch_size,
        shuffle=True,
        num_workers=args.workers,
        collate_fn=collate_prebatched,
    )
    ref_loader = reference_loader(root / "train", args.image_size, args.batch_size, args.workers)
    assert len(ref_loader.dataset) == len(dm.train_dataset), "both paths must read the same images"

    def fast_eval(b):
        return dm.transform_batch(b, train=False)

    def identity(b):
        return b

    cases = [
        ("reference", lambda: iter(ref_loader), identity),
        ("fast", lambda: iter(fast_loader), fast_eval),
        ("fast_same_workers", lambda: iter(fast_workers_loader), fast_eval),
    ]
    if args.augment:
        ref_aug = _reference_augment_loader(args, root)
        cases += [
            ("reference_augment", lambda: iter(ref_aug), identity),
            ("fast_augment", lambda: iter(fast_loader), lambda b: dm.transform_batch(b, train=True)),
        ]
    return cases


def _reference_augment_loader(args: argparse.Namespace, root: Path) -> DataLoader:
    """The reference path with train augmentation (random resized crop and flip)."""
    from torchvision import datasets
    from torchvision import transforms as T

    aug_tf = T.Compose(
        [
            T.RandomResizedCrop(args.image_size, scale=(0.35, 1.0)),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
    return DataLoader(
        datasets.ImageFolder(str(root / "train"), transform=aug_tf),
        batch_size=args.batch_size,
        shuffle=True,
        num_workers=args.workers,
    )


def _time_cases(
    args: argparse.Namespace, cases: list[tuple[str, Callable, Callable]]
) -> dict[str, list[dict]]:
    """Every path timed ``args.repeats`` times, the paths interleaved within each repeat."""
    runs: dict[str, list[dict]] = {name: [] for name, _, _ in cases}
    for r in range(args.repeats):
        for name, make_iter, tf in cases:
            res = time_batches(make_iter, tf, args.warmup, args.batches)
            runs[name].append(res)
            print(
                f"repeat {r + 1}/{args.repeats} {name:>18}: {res['images_per_s']:8.0f} img/s "
                f"(load1 {res['load1_before']:.2f})",
                flush=True,
            )
    return runs


def _print_ratios(result: dict[str, Any], augment: bool) -> None:
    print()
    print(f"{'path':>18} | median img/s")
    for name, v in result["median_images_per_s"].items():
        print(f"{name:>18} | {v:10.0f}")
    print(f"ratio fast / reference: {result['speedup_fast_over_reference']:.1f}x")
    print(f"ratio fast_same_workers / reference: {result['speedup_fast_same_workers_over_reference']:.1f}x")
    if augment:
        print(
            f"ratio fast_augment / reference_augment: {result['speedup_fast_augment_over_reference_augment']:.1f}x"
        )


def main(argv=None) -> int:
    args = _parse_args(argv)
    torch.manual_seed(0)
    load_start = os.getloadavg()
    cache_dir = resolve_cache_dir(args.cache_dir)
    dm, root, setup_s = _prepare(args, cache_dir)
    cache_build = _time_cache_build(args, dm, root, cache_dir) if args.time_cache_build else None
    runs = _time_cases(args, _cases(args, dm, root))
    med = {name: statistics.median(x["images_per_s"] for x in rs) for name, rs in runs.items()}
    result = {
        "benchmark": "data_pipeline",
        "measured": "wall-clock throughput (time.perf_counter) of model-ready float32 batches in the main process",
        "command": "PYTHONPATH=src .venv/bin/python benchmarks/data_pipeline.py "
        + " ".join(argv or sys.argv[1:]),
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "load_avg_at_end": os.getloadavg(),
        },
        "settings": {**vars(args), "train_images": len(dm.train_dataset), "dataset_root": str(root)},
        "setup_seconds": setup_s,
        "fast_cache_build_from_scratch": cache_build,
        "load_avg_at_start": load_start,
        "median_images_per_s": med,
        "speedup_fast_over_reference": med["fast"] / med["reference"],
        "speedup_fast_same_workers_over_reference": med["fast_same_workers"] / med["reference"],
        "runs": runs,
    }
    if args.augment:
        result["speedup_fast_augment_over_reference_augment"] = med["fast_augment"] / med["reference_augment"]
    _print_ratios(result, args.augment)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
