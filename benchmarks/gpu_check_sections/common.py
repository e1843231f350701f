"""Shared pieces of the GPU check: section names and caps, the wall-clock budget, where a
run's error or skip is recorded, and small device helpers.

Every measurement goes through :func:`guarded`: it starts only if its estimate fits the
budget left, and an exception is recorded in the report (``errors`` / ``skipped``) instead
of ending the script. :func:`save_progress` rewrites the JSON + Markdown after each run
(the driver installs the writer), so a cut-off session still brings back what it measured.
"""

from __future__ import annotations

import gc
import time
import traceback
from collections.abc import Callable

import torch

SECTIONS = ("input", "mfu", "ablation", "energy", "throttle", "peers")
# most seconds each section may take (--section-cap NAME=S); with the start-up these fit one ~8 min call
SECTION_CAP_S = {
    "input": 120.0,
    "mfu": 15.0,
    "ablation": 70.0,
    "energy": 150.0,
    "throttle": 50.0,
    "peers": 60.0,
}
TINY_SECTION_CAP_S = {
    "input": 60.0,
    "mfu": 20.0,
    "ablation": 30.0,
    "energy": 40.0,
    "throttle": 25.0,
    "peers": 45.0,
}
# the project's image size per model (conf/model/*.yaml); others: --input-image-size
MODEL_IMAGE_SIZE = {"inception_v3": 299, "densenet121": 224, "densenet169": 224}
# input paths: DataConfig settings on top of the synthetic data set (see fits.data_config)
INPUT_PATHS = {
    "fast": {"pipeline": "fast", "pin_memory": True},
    "fast_no_pin": {"pipeline": "fast", "pin_memory": False},
    "reference": {"pipeline": "reference", "pin_memory": True, "persistent_workers": True},
    "reference_no_persistent": {"pipeline": "reference", "pin_memory": True, "persistent_workers": False},
}


class Budget:
    """Wall-clock budget of the whole script: a run starts only if its estimate fits."""

    def __init__(self, max_total_s: float, t0: float | None = None) -> None:
        self.t0, self.max_total_s = time.perf_counter() if t0 is None else t0, max_total_s

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def left(self) -> float:
        return self.max_total_s - self.elapsed()


class Skipped(Exception):
    """A run or section deliberately not done (recorded as skipped, not as an error)."""


def device_of(args) -> torch.device:
    """The device the runs train on: GPU 0 or the CPU."""
    return torch.device("cuda", 0) if args.accelerator == "gpu" else torch.device("cpu")


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (timing edges)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def free_memory() -> None:
    """Collect garbage and return cached GPU memory between runs."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def image_size_of(args, model_name: str) -> int:
    """``--input-image-size``, else the project's size for the model (224 if unknown)."""
    return args.input_image_size or MODEL_IMAGE_SIZE.get(model_name, 224)


def record_error(report: dict, where: str, err: BaseException) -> dict:
    """Print and record a failed run (with a short traceback); the row says ``error``."""
    print(f"   {where} failed: {err!r}", flush=True)
    entry = {"where": where, "error": repr(err), "traceback": traceback.format_exc(limit=6)[-2000:]}
    report.setdefault("errors", []).append(entry)
    return {"error": repr(err)}


def record_skip(report: dict, where: str, why: str) -> dict:
    """Print and record a run not done and why; the row says ``skipped``."""
    print(f"   {where} skipped: {why}", flush=True)
    report.setdefault("skipped", []).append({"where": where, "why": why})
    return {"skipped": why}


def guarded(report: dict, budget: Budget, where: str, need_s: float, fn, *a, **kw) -> dict:
    """Run ``fn`` if ``need_s`` fits in the budget; errors and skips go into the report."""
    if budget.left() < need_s:
        return record_skip(report, where, f"time budget: {budget.left():.0f} s left, needs ~{need_s:.0f} s")
    try:
        return fn(*a, **kw)
    except Skipped as why:
        return record_skip(report, where, str(why))
    except Exception as err:
        free_memory()
        return record_error(report, where, err)


_progress_writer: Callable[[object, dict], None] | None = None


def set_progress_writer(write: Callable[[object, dict], None]) -> None:
    """Install the function that writes the JSON + Markdown (the driver's ``write_outputs``)."""
    global _progress_writer
    _progress_writer = write


def save_progress(args, report: dict) -> None:
    """Rewrite the outputs now, so that what was measured so far survives a cut-off session."""
    if _progress_writer is not None:
        _progress_writer(args, report)
