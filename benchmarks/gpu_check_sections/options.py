"""The GPU check's command line: its options, the defaults for a GPU session and for the
``--tiny`` CPU smoke run, the per-section caps, and the time estimate per section."""

from __future__ import annotations

import argparse
import os

import torch

from . import ablation, energy, input_path
from .common import INPUT_PATHS, SECTION_CAP_S, SECTIONS, TINY_SECTION_CAP_S

BENCHMARKS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build_parser() -> argparse.ArgumentParser:
    """All options; ``None`` defaults are filled by :func:`tiny_defaults` / :func:`gpu_defaults`."""
    p = argparse.ArgumentParser(
        description="Input path, MFU, trainer=gpu settings and energy on an NVIDIA GPU"
    )
    p.add_argument("--tiny", action="store_true", help="CPU smoke run: tiny models, 32 px, few steps")
    p.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    p.add_argument("--models", nargs="+", default=None)
    p.add_argument(
        "--max-total-s",
        type=float,
        default=None,
        help="start no measurement that would end after this many seconds (default 480 on GPU)",
    )
    p.add_argument("--out", default=os.path.join(BENCHMARKS_DIR, "..", "docs", "measurements"))
    _add_input_options(p)
    _add_energy_options(p)
    _add_throttle_peers_options(p)
    return p


def _add_input_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("input path / MFU")
    g.add_argument("--input-seconds", type=float, default=None, help="timed seconds per input-path run")
    g.add_argument("--input-batch", type=int, default=None)
    g.add_argument(
        "--input-image-size",
        type=int,
        default=None,
        help="default: the model's (inception 299, densenet 224)",
    )
    g.add_argument(
        "--input-variants",
        nargs="*",
        default=None,
        choices=[k for k in INPUT_PATHS if k != "fast"],
        help="extra input paths for the first model (default: fast_no_pin reference)",
    )
    g.add_argument("--run-warmup", type=int, default=None, help="untimed steps per run")
    g.add_argument("--max-timed-steps", type=int, default=100000)
    g.add_argument(
        "--data-dir", default=None, help="synthetic data + cache (default: a temporary folder, removed)"
    )
    g.add_argument("--synthetic-classes", type=int, default=None)
    g.add_argument("--synthetic-per-class", type=int, default=None, help="train images per class")
    g.add_argument("--synthetic-val-per-class", type=int, default=None)
    g.add_argument("--synthetic-px", type=int, default=64)
    g.add_argument("--reference-workers", type=int, default=None)
    g.add_argument("--peak-n", type=int, default=None)
    g.add_argument("--peak-reps", type=int, default=None)
    g.add_argument("--peak-trials", type=int, default=None)
    g = p.add_argument_group("settings ablation")
    g.add_argument("--ablation-seconds", type=float, default=None)
    g.add_argument("--ablation-model", default=None, help="default: the first of --models")
    g.add_argument(
        "--compile", action="store_true", help="also time torch.compile (costs minutes of compilation)"
    )
    g.add_argument("--compile-s", type=float, default=180.0, help="budgeted compile time")


def _add_energy_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("energy")
    g.add_argument(
        "--seconds", type=float, default=None, help="training time per model for the energy window"
    )
    g.add_argument("--image-size", type=int, default=None)
    g.add_argument("--batch", type=int, default=None)
    g.add_argument("--pairs", type=int, default=None, help="with/without pairs for the overhead")
    g.add_argument("--warmup", type=int, default=None)
    g.add_argument("--sampling-interval", type=float, default=0.1)


def _add_throttle_peers_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("read throttle / peers")
    g.add_argument("--throttle-models", nargs="+", default=None, help="model:px:batch entries")
    g.add_argument("--throttle-seconds", type=float, default=None, help="timed seconds per throttle run")
    g.add_argument("--throttle-rounds", type=int, default=None)
    g.add_argument(
        "--throttle-calls", type=int, default=2000, help="record_step calls timed for the per-call cost"
    )
    g.add_argument(
        "--peers-arms", nargs="+", default=None, help="benchmarks/peers.py arms (missing packages skipped)"
    )
    g.add_argument("--peers-rounds", type=int, default=None)
    g.add_argument("--peers-steps", type=int, default=None)
    g.add_argument("--peers-arm-timeout-s", type=float, default=None)
    g.add_argument(
        "--section-cap",
        action="append",
        default=[],
        metavar="NAME=S",
        help="most seconds for one section (defaults: SECTION_CAP_S)",
    )


def tiny_defaults(args) -> tuple[dict, dict]:
    """CPU smoke run: tiny timm test models, 32 px, a few steps (its numbers measure nothing)."""
    defaults = {
        "models": ["test_resnet", "test_efficientnet"],
        "max_total_s": 600.0,
        "input_seconds": 1.0,
        "input_batch": 8,
        "input_image_size": 32,
        "input_variants": ["fast_no_pin", "reference"],
        "run_warmup": 2,
        "synthetic_classes": 4,
        "synthetic_per_class": 16,
        "synthetic_val_per_class": 1,
        "reference_workers": 1,
        "peak_n": 256,
        "peak_reps": 3,
        "peak_trials": 3,
        "ablation_seconds": 1.0,
        "seconds": 1.5,
        "image_size": 32,
        "batch": 8,
        "pairs": 1,
        "warmup": 2,
        "throttle_models": ["test_resnet:32:8"],
        "throttle_seconds": 0.4,
        "throttle_rounds": 2,
        "peers_arms": ["none", "sci_lightning", "codecarbon", "carbontracker", "zeus"],
        "peers_rounds": 1,
        "peers_steps": 8,
        "peers_arm_timeout_s": 40.0,
    }
    args.synthetic_px = min(args.synthetic_px, 32)
    args.run_overhead_s = 1.0
    args.peers_process_s = 6.0
    return defaults, dict(TINY_SECTION_CAP_S)


def gpu_defaults(args, cpus: int) -> tuple[dict, dict]:
    """One ~8 min GPU session: the project's models and sizes, seconds per run that fit the caps."""
    # 200 x 128 = 25 600 train images: epochs of a whole number of 64/128/256 batches
    defaults = {
        "models": ["inception_v3", "densenet121"],
        "max_total_s": 480.0,
        "input_seconds": 8.0,
        "input_batch": 256,
        "input_variants": ["fast_no_pin", "reference"],
        "run_warmup": 15,
        "synthetic_classes": 200,
        "synthetic_per_class": 128,
        "synthetic_val_per_class": 2,
        "reference_workers": max(1, min(12, cpus - 2)),
        "peak_n": 8192,
        "peak_reps": 20,
        "peak_trials": 7,
        "ablation_seconds": 6.0,
        "seconds": 20.0,
        "image_size": 224,
        "batch": 64,
        "pairs": 2,
        "warmup": 10,
        # real step rates: a large model at the energy settings and a small, fast-stepping one
        "throttle_models": ["resnet18:64:32", "densenet121:224:64"],
        "throttle_seconds": 2.0,
        "throttle_rounds": 2,
        "peers_arms": ["none", "sci_lightning", "codecarbon", "carbontracker", "zeus"],
        "peers_rounds": 3,
        "peers_steps": 512,
        "peers_arm_timeout_s": 30.0,
    }
    args.run_overhead_s = 8.0
    args.peers_process_s = 10.0
    return defaults, dict(SECTION_CAP_S)


def parse_args(argv=None):
    """The options with every default filled in, plus ``accelerator``, ``precision``, ``cpus``, ``section_caps``."""
    p = build_parser()
    args = p.parse_args(argv)
    cuda = torch.cuda.is_available() and not args.tiny
    args.tiny = not cuda
    cpus = os.cpu_count() or 1
    defaults, caps = tiny_defaults(args) if args.tiny else gpu_defaults(args, cpus)
    for k, v in defaults.items():
        if getattr(args, k, None) is None:
            setattr(args, k, v)
    for item in args.section_cap:
        name, _, secs = item.partition("=")
        if name not in SECTIONS:
            p.error(f"--section-cap {item!r}: unknown section {name!r}")
        caps[name] = float(secs)
    args.section_caps = caps
    args.cpus = max(1, min(16, cpus))
    args.accelerator = "gpu" if cuda else "cpu"
    args.precision = ("bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed") if cuda else "32-true"
    return args


def estimate(args) -> dict:
    """Seconds per section from the knobs (run_overhead_s: model build + Trainer start + warm-up)."""
    est: dict = {"startup": 15.0 if args.accelerator == "gpu" else 5.0}
    per_run = args.input_seconds + args.run_overhead_s
    if "input" in args.sections:
        est["input"] = (20.0 if args.accelerator == "gpu" else 3.0) + len(
            input_path.input_runs(args)
        ) * per_run
    if "mfu" in args.sections:
        est["mfu"] = 5.0 + 3.0 * len(args.models)
    if "ablation" in args.sections:
        n = sum(1 for _, s in ablation.ablation_settings(args) if not s["skip"])
        est["ablation"] = n * (args.ablation_seconds + args.run_overhead_s) + (
            args.compile_s if args.compile else 0
        )
    if "energy" in args.sections:
        est["energy"] = len(args.models) * energy.estimate_s(args)
    if "throttle" in args.sections:
        per = 2 * args.run_overhead_s + args.throttle_rounds * 3 * (
            args.throttle_seconds + args.run_overhead_s / 2
        )
        est["throttle"] = 2.0 + len(args.throttle_models) * per
    if "peers" in args.sections:
        est["peers"] = args.peers_rounds * len(args.peers_arms) * args.peers_process_s
    caps = args.section_caps
    return {k: round(min(v, caps.get(k, v)), 1) for k, v in est.items()}
