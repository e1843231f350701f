"""Energy of head-only training with and without ``model.cache_features`` (through ``train.run``).

Trains the same frozen-backbone model head-only for ``--epochs`` epochs on synthetic data
in Tiny ImageNet's layout, once on images (the backbone's forward pass every epoch) and
once with ``model.cache_features=true`` (the backbone runs once per image, inside the
measured window; the head then trains on the cached features). Both arms go through the
real entry point, ``sci_lightning.app.train.run``, with the same seed and ``data.augment=false``,
so they train the same head; the energy is what ``EnergyCarbonCallback`` wrote to
``energy.json`` (on a machine without RAPL or a GPU: the CPU-time x TDP estimate, i.e.
*estimated*, and labelled so in the output), the wall time is ``fit_wall_s`` (fit start to
fit end, measured). One unrecorded 1-epoch warm-up run of each arm comes first (the first
fit in a process pays one-off costs -- oneDNN kernel set-up, first touch of the weights --
of about 2 s here, which would otherwise land on whichever arm runs first). With
``--pairs N`` the arms then alternate order pair by pair so that load from other
processes hits both alike; the ratios are medians of the per-pair ratios.

Prints both arms side by side with the ratios, and writes ``cache_features.json`` to
``--out``.

Usage::

    .venv/bin/python benchmarks/cache_features.py --pairs 5 --threads 1 --out docs/measurements
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))


def _compose(overrides: list[str]):
    from hydra import compose, initialize_config_module

    from sci_lightning.settings import register_hydra_schemas

    register_hydra_schemas()
    with initialize_config_module(config_module="sci_lightning.conf", version_base="1.3"):
        return compose("config", overrides=overrides)


def one_run(args: argparse.Namespace, cache: bool, work: Path, epochs: int | None = None) -> dict:
    from sci_lightning.app.train import run

    out = Path(tempfile.mkdtemp(prefix="cached_" if cache else "images_", dir=work))
    overrides = [
        "experiment=quickstart",
        f"model={args.model}",
        f"model.image_size={args.image_size}",
        "model.freeze_backbone=true",
        f"model.cache_features={str(cache).lower()}",
        "data.augment=false",
        f"data.batch_size={args.batch_size}",
        "data.num_workers=0",
        f"data.synthetic_classes={args.classes}",
        f"data.synthetic_train_per_class={args.train_per_class}",
        f"data.synthetic_val_per_class={args.val_per_class}",
        f"data.cache_dir={work / 'data'}",
        f"trainer.max_epochs={epochs or args.epochs}",
        "trainer.num_sanity_val_steps=0",
        "trainer.enable_progress_bar=false",
        "save_checkpoint=false",
        "tensorboard=false",
        f"output_dir={out}",
    ]
    run(_compose(overrides))
    summary = json.loads((out / "run_summary.json").read_text())
    energy = json.loads((out / "energy.json").read_text())
    return {
        "cache_features": cache,
        "energy_j": summary["energy_kwh"] * 3.6e6,
        "fit_wall_s": summary["fit_wall_s"],
        "feature_extraction_s": summary.get("feature_extraction_s"),
        "steps": summary["steps"],
        "epochs": summary["epochs"],
        "final_val_acc": summary["final_val_acc"],
        "energy_methods": sorted({c["method"] for c in energy["components"]}),
        "energy_quality": energy.get("quality"),
    }


def _parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--model", default="densenet", help="model config: densenet | inception | densenet169")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--train-per-class", type=int, default=50)
    p.add_argument("--val-per-class", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--pairs", type=int, default=3, help="pairs of runs, order alternating")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (1: a busy shared machine inflates the CPU time of spinning threads less)",
    )
    p.add_argument("--out", default=None, help="folder for cache_features.json")
    return p.parse_args()


def _run_pairs(args: argparse.Namespace) -> list[dict[str, Any]]:
    """A warm-up of each arm, then ``args.pairs`` pairs of runs in alternating order."""
    pairs = []
    with tempfile.TemporaryDirectory(prefix="cache_features_bench_") as tmp:
        work = Path(tmp)
        for cache in (False, True):  # warm-up, not recorded
            one_run(args, cache, work, epochs=1)
        for i in range(args.pairs):
            order = (False, True) if i % 2 == 0 else (True, False)
            res = {}
            for cache in order:
                res[cache] = one_run(args, cache, work)
                r = res[cache]
                print(
                    f"pair {i + 1} cache_features={cache}: {r['energy_j']:.1f} J, {r['fit_wall_s']:.1f} s",
                    file=sys.stderr,
                )
            pairs.append({"images": res[False], "cached": res[True]})
    return pairs


def _summary(args: argparse.Namespace, pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """The medians and ratios of the pairs (and the pairs themselves)."""

    def med(arm: str, key: str) -> float:
        return statistics.median(p[arm][key] for p in pairs)

    methods = sorted({m for p in pairs for arm in p.values() for m in arm["energy_methods"]})
    estimated = any("estimate" in m for m in methods)
    return {
        "model": args.model,
        "image_size": args.image_size,
        "epochs": args.epochs,
        "train_images": args.classes * args.train_per_class,
        "val_images": args.classes * args.val_per_class,
        "batch_size": args.batch_size,
        "pairs": args.pairs,
        "energy_methods": methods,
        "energy_is": "estimated (CPU time x TDP per core, RAM W/GB)" if estimated else "measured",
        "median_energy_j_images": med("images", "energy_j"),
        "median_energy_j_cached": med("cached", "energy_j"),
        "median_energy_ratio_cached_over_images": statistics.median(
            p["cached"]["energy_j"] / p["images"]["energy_j"] for p in pairs
        ),
        "median_fit_wall_s_images": med("images", "fit_wall_s"),
        "median_fit_wall_s_cached": med("cached", "fit_wall_s"),
        "median_feature_extraction_s": med("cached", "feature_extraction_s"),
        "median_wall_ratio_cached_over_images": statistics.median(
            p["cached"]["fit_wall_s"] / p["images"]["fit_wall_s"] for p in pairs
        ),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "pairs_raw": pairs,
    }


def _print_table(args: argparse.Namespace, result: dict[str, Any]) -> None:
    kind = result["energy_is"]
    estimated = kind.startswith("estimated")
    pairs = result["pairs_raw"]
    print(
        f"\nhead-only {args.model} @ {args.image_size} px, {args.epochs} epochs, {result['train_images']} train + "
        f"{result['val_images']} val images, batch {args.batch_size}, {args.pairs} pair(s); energy {kind}, "
        "wall time measured"
    )
    print(f"{'':28}{'images':>12}{'cache_features':>16}{'ratio':>10}")
    print(
        f"{'energy (J, ' + ('est.' if estimated else 'meas.') + ')':28}{result['median_energy_j_images']:>12.1f}"
        f"{result['median_energy_j_cached']:>16.1f}{result['median_energy_ratio_cached_over_images']:>10.3f}"
    )
    print(
        f"{'fit wall time (s)':28}{result['median_fit_wall_s_images']:>12.1f}"
        f"{result['median_fit_wall_s_cached']:>16.1f}{result['median_wall_ratio_cached_over_images']:>10.3f}"
    )
    print(f"{'of which extraction (s)':28}{'-':>12}{result['median_feature_extraction_s']:>16.1f}")
    print(
        f"{'final val acc':28}{pairs[0]['images']['final_val_acc']:>12.4f}{pairs[0]['cached']['final_val_acc']:>16.4f}"
    )


def main() -> None:
    args = _parse_args()
    torch.set_num_threads(args.threads)
    result = _summary(args, _run_pairs(args))
    _print_table(args, result)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        path = Path(args.out) / "cache_features.json"
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
