"""GPU session: run ONE command from the repository root (run timeout_s=600; at most 8 min: --max-total-s 480)::

    python3 benchmarks/gpu_check.py --out "$OUT/docs/measurements"

then copy ``$OUT/docs/measurements/gpu_check.{json,md}`` (and ``gpu_check_runs/``, the energy
callback's own reports) into ``docs/measurements/``.

One prepared GPU check for issue 7 (input path, MFU, trainer=gpu settings) and the energy
measurement. It starts no run that its estimate says would end after ``--max-total-s``
(480 s on a GPU, counted from the script's start; each
section also has its own cap, ``SECTION_CAP_S``, ``--section-cap NAME=S``), exits 30 s after that whatever hangs, and
rewrites its JSON + Markdown after every run, so even a cut-off run brings back what it
measured. Needs torch, lightning (with torchmetrics, PyYAML), timm (with torchvision,
Pillow), numpy and, for energy, nvidia-ml-py; NOT hydra-core / omegaconf (``src/`` is put
on ``sys.path`` here and the data settings are the plain ``DataConfig`` dataclass), nor
``requests`` (only the HTTP intensity providers need it; this script uses the offline table).

Sections (``--sections``; each run that fails records its error and the script goes on):

``input``     training images/s of each model through a real Lightning ``Trainer`` with
              :class:`ImageClassifier` fed by the project's real input path (synthetic
              data in Tiny ImageNet layout, generated into a temporary folder, decoded
              once into the uint8 cache, ``pipeline=fast``: resize/augment/normalize on
              the GPU in ``on_after_batch_transfer``) versus the same model and trainer
              fed a fixed batch of tensors already on the GPU; the ratio (goal >= 0.95).
              For the first model also: fast path without pinned memory, and the
              per-image PIL ``pipeline=reference`` for contrast. Times the data
              generation and cache build too.
``mfu``       model FLOPs utilization: training-step FLOPs (forward + backward, counted
              with ``torch.utils.flop_counter.FlopCounterMode`` on the device) x the
              images/s of ``input`` / the card's peak measured with a large matmul in the
              training dtype (CUDA events, best of several).
``ablation``  the ``trainer=gpu`` defaults, one setting changed at a time on one model
              with on-device tensors: bf16-mixed vs fp16-mixed vs fp32, channels_last
              on/off, cudnn.benchmark on/off; ``--compile`` adds torch.compile (minutes).
``energy``    NVML energy counter vs power-integrated energy over the same window
              (agreement %), :class:`EnergyCarbonCallback` overhead (paired runs with /
              without, alternating order), images/s; random-init models at 224 px.
``throttle``  the callback's overhead at real step rates with the read throttle (default
              ``min_read_interval_s=0.1``) and without it (``0``: the meters read every
              step) against no callback, for a large model and a fast-stepping small one
              (paired rounds, rotated order), plus the cost of one ``record_step`` call.
``peers``     ``benchmarks/peers.py`` on this device: no tracker, sci-lightning, CodeCarbon,
              carbontracker, Zeus (arms whose package is not installed are skipped), each
              arm a fresh process; as many rounds as fit the section's cap.

Not measured here: head-only training with / without ``model.cache_features`` (the
feature is still being built; see the Markdown's "Not measured" list).

Writes ``gpu_check.json`` and ``gpu_check.md`` (``gpu_check_tiny.*`` on CPU) into
``--out`` (default ``docs/measurements``). On a machine without a GPU, ``--tiny`` runs
every section in a tiny form on CPU (timm test models, 32 px, a few steps) to show the
script works end to end; its numbers are not measurements of anything::

    python benchmarks/gpu_check.py --tiny --out /tmp/gpu_check_tiny
"""

from __future__ import annotations

import time

T_START = time.perf_counter()  # the budget counts the imports too

import argparse
import contextlib
import faulthandler
import gc
import json
import logging
import os
import platform
import shutil
import statistics
import sys
import tempfile
import traceback
import warnings
from datetime import datetime, timezone

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader, Dataset, TensorDataset

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
from sci_lightning.lightning.callback import EnergyCarbonCallback  # noqa: E402
from sci_lightning.energy import EnergyMonitor, NvmlEnergyMeter  # noqa: E402

SECTIONS = ("input", "mfu", "ablation", "energy", "throttle", "peers")
# most seconds each section may take (--section-cap NAME=S); with the start-up these fit one ~8 min call
SECTION_CAP_S = {"input": 120.0, "mfu": 15.0, "ablation": 70.0, "energy": 150.0, "throttle": 50.0, "peers": 60.0}
TINY_SECTION_CAP_S = {"input": 60.0, "mfu": 20.0, "ablation": 30.0, "energy": 40.0, "throttle": 25.0, "peers": 45.0}
# read-throttle arms: EnergyConfig.min_read_interval_s (None: no callback)
THROTTLE_ARMS = {"none": None, "throttled": 0.1, "every_step": 0.0}
# the project's image size per model (conf/model/*.yaml); others: --input-image-size
MODEL_IMAGE_SIZE = {"inception_v3": 299, "densenet121": 224, "densenet169": 224}
RATIO_GOAL = 0.95
# input paths: DataConfig settings on top of the synthetic data set (see _data_config)
INPUT_PATHS = {
    "fast": {"pipeline": "fast", "pin_memory": True},
    "fast_no_pin": {"pipeline": "fast", "pin_memory": False},
    "reference": {"pipeline": "reference", "pin_memory": True, "persistent_workers": True},
    "reference_no_persistent": {"pipeline": "reference", "pin_memory": True, "persistent_workers": False},
}
INPUT_PATH_TEXT = {
    "tensors": "fixed batch of tensors already on the device (no input path)",
    "fast": "pipeline=fast (uint8 memmap cache, in-process loader, pinned memory, transform on the device)",
    "fast_no_pin": "pipeline=fast without pinned memory",
    "reference": "pipeline=reference (per-image PIL + torchvision in DataLoader workers, persistent, pinned)",
    "reference_no_persistent": "pipeline=reference, workers restarted every epoch",
}


# --------------------------------------------------------------------------- energy section
# (the energy engineer's check: a module on one fixed device batch, NVML counter vs sampling)


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
        enable_model_summary=False, default_root_dir=args.scratch, benchmark=args.accelerator == "gpu" or None,
    )
    trainer.fit(model, train_dataloaders=_loader(steps, model.batch))


def check_model(name: str, args) -> dict:
    print(f"== energy {name}: building", flush=True)
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
    monitors = {
        "counter": EnergyMonitor([NvmlEnergyMeter([0], mode="auto")], device_indices=[0]) if cuda else None,
        "sampling": EnergyMonitor(
            [NvmlEnergyMeter([0], mode="sampling", sampling_interval_s=args.sampling_interval)], device_indices=[0]
        ) if cuda else None,
    }
    timer = StepTimer(skip=args.warmup)
    cb = EnergyCarbonCallback(energy={"rapl_root": "/sys/class/powercap"}, output_dir=os.path.join(args.out, "gpu_check_runs", name))
    for monitor in monitors.values():
        if monitor is not None:
            monitor.begin_window("window")  # synchronizes the device
    t = time.perf_counter()
    _fit(model, steps, args, [timer, cb])
    if cuda:
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
                cbs.append(EnergyCarbonCallback(output_dir=os.path.join(args.scratch, f"overhead_{name}")))
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


# --------------------------------------------------------------------------- shared pieces


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


class ThroughputTimer(Callback):
    """Steady-state training images/s inside a real ``Trainer.fit``.

    Skips ``warmup`` steps (cuDNN autotuning, allocator, worker start-up), synchronizes
    the device, then counts images until ``seconds`` have passed, synchronizes again and
    stops the fit. Epoch boundaries inside the window are part of what is timed.
    """

    def __init__(self, warmup: int, seconds: float, min_steps: int = 3) -> None:
        self.warmup, self.seconds, self.min_steps = max(1, warmup), seconds, min_steps
        self.seen = self.steps = self.images = 0
        self.t0: float | None = None
        self.t1: float | None = None
        self.done = False

    @staticmethod
    def _now(pl_module) -> float:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)
        return time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.done:
            return
        self.seen += 1
        if self.seen == self.warmup:
            self.t0 = self._now(pl_module)
            return
        if self.t0 is None:
            return
        self.steps += 1
        self.images += int(batch[1].shape[0])
        if self.steps >= self.min_steps and time.perf_counter() - self.t0 >= self.seconds:
            self.t1 = self._now(pl_module)
            self.done = True
            trainer.should_stop = True

    def on_train_end(self, trainer, pl_module):
        if not self.done and self.t0 is not None and self.steps:
            self.t1 = self._now(pl_module)
            self.done = True

    def result(self) -> dict:
        if self.t0 is None or self.t1 is None or not self.steps:
            raise RuntimeError(f"too few steps to time ({self.seen} seen, warm-up {self.warmup})")
        dt = self.t1 - self.t0
        return {"images_per_s": self.images / dt, "ms_per_step": dt / self.steps * 1e3, "timed_steps": self.steps,
                "timed_s": dt, "warmup_steps": self.warmup}


class SameBatch(Dataset):
    """``n`` times the same (images, labels) batch, already on the device (``batch_size=None``)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, n: int) -> None:
        self.x, self.y, self.n = x, y, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        return self.x, self.y


def _device(args) -> torch.device:
    return torch.device("cuda", 0) if args.accelerator == "gpu" else torch.device("cpu")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _free() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _image_size(args, model_name: str) -> int:
    return args.input_image_size or MODEL_IMAGE_SIZE.get(model_name, 224)


def _mean_std(net) -> tuple[tuple, tuple]:
    try:
        import timm.data

        cfg = timm.data.resolve_model_data_config(net)
        return tuple(cfg["mean"]), tuple(cfg["std"])
    except Exception:  # noqa: BLE001 - normalization does not change the throughput
        return (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _data_config(args, path: str):
    """The project's DataConfig (a plain dataclass: no omegaconf needed) for one input path."""
    from sci_lightning.data import DataConfig

    over = dict(INPUT_PATHS[path])
    pipeline = over.pop("pipeline")
    workers = args.reference_workers if pipeline == "reference" else args.cpus  # fast: decode processes
    return DataConfig(
        name="synthetic", cache_dir=args.data_dir, batch_size=args.input_batch, num_workers=workers,
        pipeline=pipeline, augment=True, synthetic_classes=args.synthetic_classes,
        synthetic_train_per_class=args.synthetic_per_class, synthetic_val_per_class=args.synthetic_val_per_class,
        synthetic_image_px=args.synthetic_px, **over,
    )


def timed_fit(args, *, model_name: str, image_size: int, batch: int, precision: str, seconds: float,
              path: str = "tensors", channels_last: bool = True, benchmark: bool = True,
              compile_model: bool = False) -> dict:
    """Images/s of :class:`ImageClassifier` in a real ``Trainer.fit``, fed by ``path``
    (``tensors``: one batch already on the device; else a key of INPUT_PATHS)."""
    from sci_lightning.lightning.classifier import ImageClassifier

    device = _device(args)
    t_start = time.perf_counter()
    model = ImageClassifier(model_name, num_classes=args.synthetic_classes, image_size=image_size,
                            channels_last=channels_last, scheduler="none")
    if compile_model:
        model.model = torch.compile(model.model)
    timer = ThroughputTimer(args.run_warmup, seconds)
    trainer = Trainer(
        accelerator=args.accelerator, devices=1, precision=precision,
        benchmark=benchmark if device.type == "cuda" else None, max_epochs=-1,
        max_steps=args.run_warmup + args.max_timed_steps, limit_val_batches=0, num_sanity_val_steps=0,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        log_every_n_steps=50, callbacks=[timer], default_root_dir=args.scratch,
    )
    if path == "tensors":
        x = torch.randn(batch, 3, image_size, image_size, device=device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, args.synthetic_classes, (batch,), device=device)
        steps_per_epoch = max(1, args.synthetic_classes * args.synthetic_per_class // batch)
        trainer.fit(model, train_dataloaders=DataLoader(SameBatch(x, y, steps_per_epoch), batch_size=None))
    else:
        from sci_lightning.data import build_datamodule

        mean, std = _mean_std(model.model)
        cfg = _data_config(args, path)
        cfg.batch_size = batch
        dm = build_datamodule(cfg, image_size=image_size, mean=mean, std=std, progress=False)
        trainer.fit(model, datamodule=dm)
    out = timer.result()
    out["run_wall_s"] = time.perf_counter() - t_start
    del model, trainer, timer
    _free()
    return out


def _record_error(report: dict, where: str, err: BaseException) -> dict:
    print(f"   {where} failed: {err!r}", flush=True)
    entry = {"where": where, "error": repr(err), "traceback": traceback.format_exc(limit=6)[-2000:]}
    report.setdefault("errors", []).append(entry)
    return {"error": repr(err)}


def _record_skip(report: dict, where: str, why: str) -> dict:
    print(f"   {where} skipped: {why}", flush=True)
    report.setdefault("skipped", []).append({"where": where, "why": why})
    return {"skipped": why}


def _guarded(report: dict, budget: Budget, where: str, need_s: float, fn, *a, **kw) -> dict:
    """Run ``fn`` if ``need_s`` fits in the budget; errors and skips go into the report."""
    if budget.left() < need_s:
        return _record_skip(report, where, f"time budget: {budget.left():.0f} s left, needs ~{need_s:.0f} s")
    try:
        return fn(*a, **kw)
    except Skipped as why:
        return _record_skip(report, where, str(why))
    except Exception as err:  # noqa: BLE001 - record, go on with the next measurement
        _free()
        return _record_error(report, where, err)


# --------------------------------------------------------------------------- input section


def prepare_data(args) -> dict:
    """Generate the synthetic Tiny ImageNet tree and build the fast path's uint8 cache (timed)."""
    from sci_lightning.data import SyntheticSpec, build_datamodule, generate_synthetic_tiny_imagenet, synthetic_root

    cfg = _data_config(args, "fast")
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
    out = {"classes": spec.classes, "train_per_class": spec.train_per_class, "val_per_class": spec.val_per_class,
           "image_px": spec.image_px, "images": n_images, "generate_s": gen_s, "generate_workers": args.cpus,
           "generate_images_per_s": n_images / gen_s if gen_s else None, "cache_build_s": cache_s,
           "cache_decode_workers": cfg.num_workers, "cache_images_per_s": n_images / cache_s if cache_s else None,
           "root": str(root)}
    print(f"   data: {n_images} images generated in {gen_s:.1f} s, uint8 cache built in {cache_s:.1f} s", flush=True)
    return out


def input_runs(args) -> list[tuple[str, str]]:
    runs = []
    for i, m in enumerate(args.models):
        runs += [(m, "tensors"), (m, "fast")]
        if i == 0:
            runs += [(m, v) for v in args.input_variants]
    return runs


def section_input(args, report: dict, budget: Budget) -> dict:
    sec: dict = {"goal_ratio": RATIO_GOAL, "batch": args.input_batch, "precision": args.precision,
                 "seconds_per_run": args.input_seconds, "paths": {k: INPUT_PATH_TEXT[k] for k in
                                                                  ["tensors", "fast", *args.input_variants]}}
    report["sections"]["input"] = sec
    sec["data"] = _guarded(report, budget, "input/data", 5, prepare_data, args)
    if "error" in sec["data"] or "skipped" in sec["data"]:
        raise Skipped("no data set")
    sec["runs"] = []
    for model_name, path in input_runs(args):
        size = _image_size(args, model_name)
        print(f"== input {model_name} {size}px batch {args.input_batch}: {path}", flush=True)
        got = _guarded(report, budget, f"input/{model_name}/{path}", args.input_seconds + args.run_overhead_s,
                       timed_fit, args, model_name=model_name, image_size=size, batch=args.input_batch,
                       precision=args.precision, seconds=args.input_seconds, path=path)
        row = {"model": model_name, "image_size": size, "path": path, **got}
        sec["runs"].append(row)
        write_outputs(args, report)
        if "images_per_s" in got:
            print(f"   {got['images_per_s']:.1f} img/s ({got['ms_per_step']:.2f} ms/step, {got['timed_steps']} steps)",
                  flush=True)
    sec["ratios"] = []
    for model_name in args.models:
        by = {r["path"]: r.get("images_per_s") for r in sec["runs"] if r["model"] == model_name}
        base = by.get("tensors")
        for path, ips in by.items():
            if path == "tensors" or not ips or not base:
                continue
            sec["ratios"].append({"model": model_name, "path": path, "ratio_to_tensors": ips / base,
                                  "meets_goal": ips / base >= RATIO_GOAL if path == "fast" else None})
    return sec


# --------------------------------------------------------------------------- MFU section


def measure_peak(args) -> dict:
    """Best FLOP/s of an n x n x n matmul in the training dtype (CUDA events on the GPU)."""
    device = _device(args)
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(args.precision, torch.float32)
    n, reps = args.peak_n, args.peak_reps
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    c = torch.empty(n, n, device=device, dtype=dtype)
    for _ in range(3):
        torch.mm(a, b, out=c)
    _sync(device)
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
    _free()
    flops = 2 * n ** 3
    return {"dtype": str(dtype).replace("torch.", ""), "n": n, "reps": reps, "trials": args.peak_trials,
            "best_s_per_matmul": best, "median_s_per_matmul": statistics.median(times),
            "peak_flop_per_s": flops / best, "median_flop_per_s": flops / statistics.median(times),
            "timing": "CUDA events" if device.type == "cuda" else "perf_counter (CPU)"}


def count_train_flops(args, model_name: str, image_size: int, batch: int) -> dict:
    """FLOPs of one training step (forward + loss + backward) of the network, counted on the device."""
    from torch.utils.flop_counter import FlopCounterMode

    from sci_lightning.lightning.classifier import ImageClassifier

    device = _device(args)
    model = ImageClassifier(model_name, num_classes=args.synthetic_classes, image_size=image_size, channels_last=True)
    net = model.model.to(device).train()
    x = torch.randn(batch, 3, image_size, image_size, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, args.synthetic_classes, (batch,), device=device)
    amp = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(args.precision)
    ctx = torch.autocast(device.type, dtype=amp) if amp is not None else contextlib.nullcontext()
    with FlopCounterMode(display=False) as fc:
        with ctx:
            loss = F.cross_entropy(net(x).float(), y)
        loss.backward()
    total = int(fc.get_total_flops())
    del model, net, x, y, loss
    _free()
    return {"model": model_name, "image_size": image_size, "counted_batch": batch, "flops_per_step": total,
            "flops_per_image": total / batch}


def section_mfu(args, report: dict, budget: Budget) -> dict:
    sec: dict = {"peak": _guarded(report, budget, "mfu/peak", 3, measure_peak, args), "models": []}
    report["sections"]["mfu"] = sec
    peak = sec["peak"].get("peak_flop_per_s")
    if peak:
        print(f"== mfu: measured peak {peak / 1e12:.3g} TFLOP/s ({sec['peak']['dtype']} {args.peak_n}^3 matmul)",
              flush=True)
    runs = (report.get("sections", {}).get("input") or {}).get("runs", [])
    for model_name in args.models:
        size = _image_size(args, model_name)
        got = _guarded(report, budget, f"mfu/{model_name}", 3, count_train_flops, args, model_name, size,
                       args.input_batch)
        row = dict(got, model=model_name, image_size=size)
        per_image = got.get("flops_per_image")
        for r in runs:
            if r["model"] == model_name and r.get("images_per_s") and per_image:
                achieved = per_image * r["images_per_s"]
                row[f"achieved_flop_per_s_{r['path']}"] = achieved
                row[f"mfu_{r['path']}"] = achieved / peak if peak else None
        if per_image:
            print(f"   {model_name}: {per_image / 1e9:.2f} GFLOP/image (train step); "
                  f"MFU tensors {_fmt(row.get('mfu_tensors'), '.3f')}, fast {_fmt(row.get('mfu_fast'), '.3f')}",
                  flush=True)
        sec["models"].append(row)
    return sec


# --------------------------------------------------------------------------- ablation section


def ablation_settings(args) -> list[tuple[str, dict]]:
    cuda = args.accelerator == "gpu"
    default = {"precision": args.precision, "channels_last": True, "benchmark": True}
    settings = [("default", default)]
    for prec, name in (("bf16-mixed", "bf16_mixed"), ("16-mixed", "fp16_mixed"), ("32-true", "fp32")):
        if prec != args.precision:
            settings.append((name, dict(default, precision=prec)))
    settings += [("no_channels_last", dict(default, channels_last=False)),
                 ("no_cudnn_benchmark", dict(default, benchmark=False))]
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


def section_ablation(args, report: dict, budget: Budget) -> dict:
    model_name = args.ablation_model or args.models[0]
    size = _image_size(args, model_name)
    sec: dict = {"model": model_name, "image_size": size, "batch": args.input_batch, "input": "tensors on the device",
                 "seconds_per_run": args.ablation_seconds,
                 "tf32": {"cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
                          "cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
                          "float32_matmul_precision": torch.get_float32_matmul_precision()},
                 "runs": []}
    report["sections"]["ablation"] = sec
    for name, s in ablation_settings(args):
        s = dict(s)
        why = s.pop("skip")
        print(f"== ablation {model_name}: {name} {s}", flush=True)
        if why:
            got = _record_skip(report, f"ablation/{name}", why)
        else:
            need = args.ablation_seconds + args.run_overhead_s + (args.compile_s if s.get("compile_model") else 0)
            got = _guarded(report, budget, f"ablation/{name}", need, timed_fit, args, model_name=model_name,
                           image_size=size, batch=args.input_batch, seconds=args.ablation_seconds, path="tensors", **s)
        if "images_per_s" in got:
            print(f"   {got['images_per_s']:.1f} img/s", flush=True)
        sec["runs"].append({"setting": name, **s, **got})
        write_outputs(args, report)
    base = next((r.get("images_per_s") for r in sec["runs"] if r["setting"] == "default"), None)
    for r in sec["runs"]:
        if base and r.get("images_per_s"):
            r["ratio_to_default"] = r["images_per_s"] / base
    if torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True
    return sec


# --------------------------------------------------------------------------- energy section


def section_energy(args, report: dict, budget: Budget) -> dict:
    if args.accelerator == "gpu":
        torch.backends.cudnn.benchmark = True
    sec: dict = {"image_size": args.image_size, "batch": args.batch, "seconds": args.seconds,
                 "sampling_interval_s": args.sampling_interval, "models": []}
    report["sections"]["energy"] = sec
    for name in args.models:
        got = _guarded(report, budget, f"energy/{name}", energy_estimate_s(args), check_model, name, args)
        if "model" in got:
            sec["models"].append(got)
        write_outputs(args, report)
    return sec



# --------------------------------------------------------------------------- read-throttle section


def throttle_specs(args) -> list[tuple[str, int, int]]:
    """``--throttle-models`` entries ``model:px:batch``."""
    out = []
    for item in args.throttle_models:
        name, px, batch = (item.split(":") + ["", ""])[:3]
        out.append((name, int(px or args.image_size), int(batch or args.batch)))
    return out


def read_cost_us(args, interval_s: float, calls: int) -> dict:
    """Mean cost of one ``EnergyMonitor.record_step`` (µs) with the default meters of this device."""
    from sci_lightning.settings import EnergyConfig

    indices = [0] if args.accelerator == "gpu" else None
    monitor = EnergyMonitor(config=EnergyConfig(), device_indices=indices, min_read_interval_s=interval_s)
    try:
        monitor.begin_window("w")
        t = time.perf_counter()
        for _ in range(calls):
            monitor.record_step(images=1)
        dt = time.perf_counter() - t
        m = monitor.end_window("w")
    finally:
        monitor.close()
    return {"min_read_interval_s": interval_s, "calls": calls, "us_per_call": dt / calls * 1e6,
            "methods": sorted({f"{c.component}: {c.method}" for c in m.components}), "resolution": list(m.resolution)}


def check_throttle(spec: tuple[str, int, int], args, budget: Budget) -> dict:
    """Steady-state step time with no callback, the callback reading at most every 0.1 s (the
    default) and reading every step (``min_read_interval_s=0``): paired rounds, rotated order."""
    name, px, batch = spec
    print(f"== throttle {name} {px} px batch {batch}: building", flush=True)
    model = SyntheticClassifier(name, px, batch)
    _fit(model, 2 * args.warmup + 5, args, [])
    timer = StepTimer(skip=args.warmup)
    _fit(model, args.warmup + 10, args, [timer])
    step_s = max(timer.step_s, 1e-5)
    steps = max(args.warmup + 10, int(args.throttle_seconds / step_s) + args.warmup)
    print(f"   {step_s * 1e3:.2f} ms/step -> {steps} steps per run", flush=True)
    arms = list(THROTTLE_ARMS)
    times: dict[str, list[float]] = {a: [] for a in arms}
    ratios: dict[str, list[float]] = {a: [] for a in arms if a != "none"}
    seen: dict[str, dict] = {}
    round_s = 0.0
    for r in range(args.throttle_rounds):
        if r and budget.left() < round_s + 2:
            print(f"   stopping after {r} rounds: section cap", flush=True)
            break
        t_round = time.perf_counter()
        got = {}
        for arm in arms[r % len(arms):] + arms[: r % len(arms)]:
            tm = StepTimer(skip=args.warmup)
            cbs: list[Callback] = [tm]
            cb = None
            if THROTTLE_ARMS[arm] is not None:
                cb = EnergyCarbonCallback(energy={"min_read_interval_s": THROTTLE_ARMS[arm]}, compute_sci=False,
                                          output_dir=os.path.join(args.scratch, f"throttle_{name}_{arm}"))
                cbs.append(cb)
            _fit(model, steps, args, cbs)
            got[arm] = tm.step_s
            times[arm].append(tm.step_s * 1e3)
            if cb is not None and cb.result is not None:
                seen[arm] = {"read_interval_s": cb.monitor.read_interval_s if cb.monitor else None,
                             "methods": sorted({f"{c.component}: {c.method}" for c in cb.result.components}),
                             "resolution": list(getattr(cb.result, "resolution", []))}
        for arm in ratios:
            ratios[arm].append(got[arm] / got["none"])
        round_s = time.perf_counter() - t_round
        print(f"   round {r + 1}: " + ", ".join(f"{a} {got[a] * 1e3:.3f} ms" for a in arms), flush=True)
    out = {"model": name, "image_size": px, "batch": batch, "precision": args.precision, "steps_per_run": steps,
           "rounds": len(times["none"]), "ms_per_step": {a: v for a, v in times.items()},
           "median_ms_per_step": {a: statistics.median(v) for a, v in times.items() if v},
           "median_ratio_to_none": {a: statistics.median(v) for a, v in ratios.items() if v},
           "ratios": ratios, "arms": {a: THROTTLE_ARMS[a] for a in arms}, "callback": seen}
    print("   median ratio to none: " + ", ".join(f"{a} {v:.4f}" for a, v in out["median_ratio_to_none"].items()),
          flush=True)
    del model
    _free()
    return out


def section_throttle(args, report: dict, budget: Budget) -> dict:
    sec: dict = {"arms": dict(THROTTLE_ARMS), "seconds_per_run": args.throttle_seconds, "models": [], "read_cost": []}
    report["sections"]["throttle"] = sec
    for interval in (0.1, 0.0):  # one record_step call, on the meters this device has
        sec["read_cost"].append(_guarded(report, budget, f"throttle/read_cost/{interval}", 1, read_cost_us, args,
                                         interval, args.throttle_calls))
    for spec in throttle_specs(args):
        need = 4 * args.run_overhead_s / 2 + 3 * args.throttle_seconds
        got = _guarded(report, budget, f"throttle/{spec[0]}", need, check_throttle, spec, args, budget)
        if "model" in got:
            sec["models"].append(got)
        else:
            sec["models"].append({"model": spec[0], **got})
        write_outputs(args, report)
    return sec


# --------------------------------------------------------------------------- peers section


def section_peers(args, report: dict, budget: Budget) -> dict:
    """benchmarks/peers.py: the same small fit under no tracker, sci-lightning and the peers whose
    package is installed (the others skipped), each arm a fresh process, within this section's cap."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import peers  # noqa: PLC0415 - benchmarks/peers.py

    device = "cuda" if args.accelerator == "gpu" else "cpu"
    deadline = time.perf_counter() + budget.left() - 3
    arms = list(args.peers_arms)
    missing = peers.missing_arms(arms)
    sec: dict = {"device": device, "steps": args.peers_steps, "rounds_asked": args.peers_rounds, "arms_asked": arms,
                 "missing": missing}
    report["sections"]["peers"] = sec
    rounds = peers.run_rounds(arms, args.peers_rounds, args.peers_steps, arm_timeout_s=args.peers_arm_timeout_s,
                              device=device, deadline=deadline, log=lambda m: print(f"   {m}", flush=True))
    summary = peers.summarize(rounds)
    for s in summary.values():
        if isinstance(s.get("output_tail"), list):
            s["output_tail"] = s["output_tail"][-6:]
    sec.update({"rounds_done": len(rounds), "arms": summary, "raw": rounds, "table": peers.table(summary)})
    print(sec["table"], flush=True)
    return sec


# --------------------------------------------------------------------------- estimate


def energy_estimate_s(args) -> float:
    fits = 3 + 2 * args.pairs
    return args.seconds * (1 + args.pairs / 2) + fits * args.run_overhead_s / 2 + 5


def estimate(args) -> dict:
    """Seconds per section from the knobs (run_overhead_s: model build + Trainer start + warm-up)."""
    est: dict = {"startup": 15.0 if args.accelerator == "gpu" else 5.0}
    per_run = args.input_seconds + args.run_overhead_s
    if "input" in args.sections:
        est["input"] = (20.0 if args.accelerator == "gpu" else 3.0) + len(input_runs(args)) * per_run
    if "mfu" in args.sections:
        est["mfu"] = 5.0 + 3.0 * len(args.models)
    if "ablation" in args.sections:
        n = sum(1 for _, s in ablation_settings(args) if not s["skip"])
        est["ablation"] = n * (args.ablation_seconds + args.run_overhead_s) + (args.compile_s if args.compile else 0)
    if "energy" in args.sections:
        est["energy"] = len(args.models) * energy_estimate_s(args)
    if "throttle" in args.sections:
        per = 2 * args.run_overhead_s + args.throttle_rounds * 3 * (args.throttle_seconds + args.run_overhead_s / 2)
        est["throttle"] = 2.0 + len(args.throttle_models) * per
    if "peers" in args.sections:
        est["peers"] = args.peers_rounds * len(args.peers_arms) * args.peers_process_s
    caps = args.section_caps
    return {k: round(min(v, caps.get(k, v)), 1) for k, v in est.items()}


# --------------------------------------------------------------------------- output


def _fmt(v, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def _why(d: dict) -> str:
    return str(d.get("error") or d.get("skipped") or d)


def _cell(row: dict, key: str, spec: str) -> str:
    if key in row:
        return _fmt(row[key], spec)
    if "skipped" in row:
        return "skipped"
    if "error" in row:
        return "error"
    return "n/a"


def write_markdown(path: str, report: dict) -> None:
    dev = report["device"]
    cuda = report["mode"] == "gpu"
    where = (f"{dev.get('gpu') or dev.get('cuda_device_name')} (driver {dev.get('driver')}, CUDA {dev.get('cuda')}), {dev.get('cpu_count')} CPU cores"
             if cuda else f"CPU only ({dev.get('cpu_count')} cores): a smoke run; the numbers measure nothing")
    lines = [
        f"# GPU check ({report['mode']})",
        "",
        f"- Measured on: {where}",
        f"- Date (UTC): {report['date_utc']}; total {_fmt(report.get('total_s'), '.0f')} s "
        f"(estimated {report['estimate_total_s']:.0f} s); per section: "
        + (", ".join(f"{k} {v:.0f} s" for k, v in report.get("section_s", {}).items()) or "none yet"),
        f"- torch {dev.get('torch')}, lightning {dev.get('lightning')}, timm {dev.get('timm')}, python {dev.get('python')}",
        f"- Command: `{report['command']}`",
        f"- Raw figures: `{os.path.basename(path)[:-3]}.json`. All figures below are measured (wall clock, device "
        "synchronized at the window edges), except FLOPs, which are counted.",
    ]
    lines.append("")
    secs = report.get("sections", {})
    inp = secs.get("input")
    if inp:
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
                lines.append(f"| {r['model']} | {r['image_size']} | {r['path']} | {_cell(r, 'images_per_s', '.1f')} | "
                             f"{_cell(r, 'ms_per_step', '.2f')} | {_fmt(ratios.get((r['model'], r['path'])), '.3f')} |")
            met = [r for r in inp.get("ratios", []) if r["path"] == "fast"]
            if met:
                lines += ["", "Goal ratio (fast / tensors) >= %.2f: " % inp["goal_ratio"] + ", ".join(
                    f"{r['model']} {r['ratio_to_tensors']:.3f} ({'met' if r['meets_goal'] else 'NOT met'})" for r in met)]
            lines += ["", "Paths: " + "; ".join(f"`{k}`: {v}" for k, v in inp["paths"].items()) + "."]
            if "generate_s" in d:
                lines += ["", f"Data preparation (one-off): {d['images']} JPEGs generated in {d['generate_s']:.2f} s "
                              f"({d['generate_workers']} processes), uint8 cache built in {d['cache_build_s']:.2f} s "
                              f"({d['cache_decode_workers']} decode processes)."]
        else:
            lines += [f"Not measured: {_why(inp)}"]
        lines.append("")
    mfu = secs.get("mfu")
    if mfu:
        pk = mfu.get("peak", {})
        lines += ["## Model FLOPs utilization", ""]
        if "peak_flop_per_s" in pk:
            lines += [f"Measured peak: {pk['peak_flop_per_s'] / 1e12:.3g} TFLOP/s ({pk['dtype']} {pk['n']}^3 matmul, "
                      f"best of {pk['trials']} x {pk['reps']}, {pk['timing']}).", ""]
        else:
            lines += [f"Peak not measured: {_why(pk)}", ""]
        lines += ["| model | px | GFLOP per image (train step, counted) | TFLOP/s tensors | MFU tensors | "
                  "TFLOP/s fast path | MFU fast path |", "|---|---|---|---|---|---|---|"]
        for r in mfu.get("models", []):
            lines.append(
                f"| {r['model']} | {r['image_size']} | {_fmt(r.get('flops_per_image') and r['flops_per_image'] / 1e9, '.2f')} | "
                f"{_fmt(r.get('achieved_flop_per_s_tensors') and r['achieved_flop_per_s_tensors'] / 1e12, '.3g')} | "
                f"{_fmt(r.get('mfu_tensors'), '.3f')} | "
                f"{_fmt(r.get('achieved_flop_per_s_fast') and r['achieved_flop_per_s_fast'] / 1e12, '.3g')} | "
                f"{_fmt(r.get('mfu_fast'), '.3f')} |")
        lines += ["", "FLOPs: `torch.utils.flop_counter.FlopCounterMode` over forward + loss + backward of one batch "
                      "(matmul/convolution FLOPs; element-wise ops not counted; optimizer step not counted). "
                      "MFU = FLOPs per image x images/s of the input-path runs / measured peak.", ""]
    abl = secs.get("ablation")
    if abl:
        lines += ["## trainer=gpu settings, one at a time", ""]
        if "runs" in abl:
            lines += [f"{abl['model']} at {abl['image_size']} px, batch {abl['batch']}, tensors on the device, "
                      f"~{abl['seconds_per_run']:g} s timed per setting. TF32: {abl['tf32']}.", "",
                      "| setting | precision | channels_last | cudnn.benchmark | compile | img/s | ratio to default |",
                      "|---|---|---|---|---|---|---|"]
            for r in abl["runs"]:
                lines.append(f"| {r['setting']} | {r.get('precision')} | {r.get('channels_last')} | {r.get('benchmark')} "
                             f"| {bool(r.get('compile_model'))} | {_cell(r, 'images_per_s', '.1f')} | "
                             f"{_fmt(r.get('ratio_to_default'), '.3f')} |")
        else:
            lines += [f"Not measured: {_why(abl)}"]
        lines.append("")
    en = secs.get("energy")
    if en:
        lines += ["## Energy measurement and callback overhead", "",
                  "| model | px | batch | precision | img/s | counter J (measured) | sampling J (measured) | agreement % "
                  "| mean W | callback overhead (median ratio) |", "|---|---|---|---|---|---|---|---|---|---|"]
        for m in en.get("models", []):
            e = m["energy"]
            lines.append(
                f"| {m['model']} | {m['image_size']} | {m['batch']} | {m['precision']} | {m['images_per_s']:.1f} | "
                f"{_fmt(e.get('counter_j'), '.1f')} | {_fmt(e.get('sampling_j'), '.1f')} | {_fmt(e.get('agreement_pct'), '.2f')} | "
                f"{_fmt(e.get('mean_power_w'), '.1f')} | {m['overhead']['median_ratio']:.4f} |")
        lines += ["", "Counter: NVML `nvmlDeviceGetTotalEnergyConsumption`; sampling: NVML power samples every "
                      f"{en.get('sampling_interval_s')} s integrated with the trapezoid rule, over the same window. "
                      "Overhead: steady-state time per step with / without `EnergyCarbonCallback`, paired runs in "
                      "alternating order.", ""]
    thr = secs.get("throttle")
    if thr:
        lines += ["## Read throttle: callback overhead at real step rates", "",
                  "Steady-state ms per step of the same model with no callback (`none`), `EnergyCarbonCallback` "
                  "with the default read throttle (`min_read_interval_s=0.1`, `throttled`) and reading the meters "
                  "every step (`min_read_interval_s=0`, `every_step`); paired rounds in rotated order, ratio = "
                  "median over rounds of (arm / none in the same round).", "",
                  "| model | px | batch | rounds | ms/step none | ms/step throttled | ms/step every_step "
                  "| ratio throttled | ratio every_step |", "|---|---|---|---|---|---|---|---|---|"]
        for m in thr.get("models", []):
            if "median_ratio_to_none" not in m:
                lines.append(f"| {m.get('model')} | | | | {_why(m)} | | | | |")
                continue
            ms, rt = m["median_ms_per_step"], m["median_ratio_to_none"]
            lines.append(f"| {m['model']} | {m['image_size']} | {m['batch']} | {m['rounds']} | {_fmt(ms.get('none'), '.3f')} "
                         f"| {_fmt(ms.get('throttled'), '.3f')} | {_fmt(ms.get('every_step'), '.3f')} "
                         f"| {_fmt(rt.get('throttled'), '.4f')} | {_fmt(rt.get('every_step'), '.4f')} |")
        costs = [c for c in thr.get("read_cost", []) if "us_per_call" in c]
        if costs:
            lines += ["", "One `EnergyMonitor.record_step` call, default meters of this machine: " + "; ".join(
                f"`min_read_interval_s={c['min_read_interval_s']:g}` {c['us_per_call']:.2f} µs/call over {c['calls']} calls"
                for c in costs) + f" (meters: {', '.join(costs[0]['methods'])})."]
        lines.append("")
    prs = secs.get("peers")
    if prs:
        lines += ["## Peers: the same fit under each tracker (benchmarks/peers.py)", ""]
        if "arms" in prs:
            lines += [f"Device {prs['device']}, {prs['steps']} steps of the small conv net, {prs['rounds_done']} of "
                      f"{prs['rounds_asked']} rounds asked (each arm a fresh process; rounds stop at the section cap). "
                      "train ratio: on_train_start to on_train_end wall time against no tracker, paired per round "
                      "(tracker start-up / stop outside it for every arm); fit ratio: the whole `Trainer.fit`.", "",
                      "```", prs.get("table", ""), "```"]
            if prs.get("missing"):
                lines += ["", "Not installed, skipped: " + ", ".join(f"{k} ({v})" for k, v in prs["missing"].items())]
        else:
            lines += [f"Not measured: {_why(prs)}"]
        lines.append("")
    lines += ["## Not measured", ""]
    lines += [f"- {n}" for n in report.get("not_measured", [])]
    for label, key in (("Skipped", "skipped"), ("Errors", "errors")):
        if report.get(key):
            lines += ["", f"## {label}", ""]
            lines += [f"- {e['where']}: {e.get('why') or e.get('error')}" for e in report[key]]
    lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def write_outputs(args, report: dict) -> None:
    stem = os.path.join(args.out, "gpu_check" if args.accelerator == "gpu" else "gpu_check_tiny")
    with open(stem + ".json.tmp", "w") as f:
        json.dump(report, f, indent=2, default=str)
    os.replace(stem + ".json.tmp", stem + ".json")
    write_markdown(stem + ".md", report)


# --------------------------------------------------------------------------- main


def _command_line() -> str:
    cmd = " ".join(["python", os.path.relpath(sys.argv[0]) if sys.argv[0] else "gpu_check.py", *sys.argv[1:]])
    out = os.environ.get("OUT")
    return cmd.replace(out, "$OUT") if out and len(out) > 1 else cmd


def device_info(cuda: bool) -> dict:
    import lightning
    import timm

    info = gpu_info() if cuda else {"gpu": None, "driver": None}
    info.update({"torch": torch.__version__, "lightning": lightning.__version__, "timm": timm.__version__,
                 "python": platform.python_version(), "cpu_count": os.cpu_count(),
                 "cuda": torch.version.cuda if cuda else None,
                 "cudnn": torch.backends.cudnn.version() if cuda else None})
    if cuda:
        info["cuda_device_name"] = torch.cuda.get_device_name(0)
        info["bf16_supported"] = torch.cuda.is_bf16_supported()
    return info


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Input path, MFU, trainer=gpu settings and energy on an NVIDIA GPU")
    p.add_argument("--tiny", action="store_true", help="CPU smoke run: tiny models, 32 px, few steps")
    p.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    p.add_argument("--models", nargs="+", default=None)
    p.add_argument("--max-total-s", type=float, default=None,
                   help="start no measurement that would end after this many seconds (default 480 on GPU)")
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "measurements"))
    g = p.add_argument_group("input path / MFU")
    g.add_argument("--input-seconds", type=float, default=None, help="timed seconds per input-path run")
    g.add_argument("--input-batch", type=int, default=None)
    g.add_argument("--input-image-size", type=int, default=None, help="default: the model's (inception 299, densenet 224)")
    g.add_argument("--input-variants", nargs="*", default=None, choices=[k for k in INPUT_PATHS if k != "fast"],
                   help="extra input paths for the first model (default: fast_no_pin reference)")
    g.add_argument("--run-warmup", type=int, default=None, help="untimed steps per run")
    g.add_argument("--max-timed-steps", type=int, default=100000)
    g.add_argument("--data-dir", default=None, help="synthetic data + cache (default: a temporary folder, removed)")
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
    g.add_argument("--compile", action="store_true", help="also time torch.compile (costs minutes of compilation)")
    g.add_argument("--compile-s", type=float, default=180.0, help="budgeted compile time")
    g = p.add_argument_group("energy")
    g.add_argument("--seconds", type=float, default=None, help="training time per model for the energy window")
    g.add_argument("--image-size", type=int, default=None)
    g.add_argument("--batch", type=int, default=None)
    g.add_argument("--pairs", type=int, default=None, help="with/without pairs for the overhead")
    g.add_argument("--warmup", type=int, default=None)
    g.add_argument("--sampling-interval", type=float, default=0.1)
    g = p.add_argument_group("read throttle / peers")
    g.add_argument("--throttle-models", nargs="+", default=None, help="model:px:batch entries")
    g.add_argument("--throttle-seconds", type=float, default=None, help="timed seconds per throttle run")
    g.add_argument("--throttle-rounds", type=int, default=None)
    g.add_argument("--throttle-calls", type=int, default=2000, help="record_step calls timed for the per-call cost")
    g.add_argument("--peers-arms", nargs="+", default=None, help="benchmarks/peers.py arms (missing packages skipped)")
    g.add_argument("--peers-rounds", type=int, default=None)
    g.add_argument("--peers-steps", type=int, default=None)
    g.add_argument("--peers-arm-timeout-s", type=float, default=None)
    g.add_argument("--section-cap", action="append", default=[], metavar="NAME=S",
                   help="most seconds for one section (defaults: SECTION_CAP_S)")
    args = p.parse_args(argv)

    cuda = torch.cuda.is_available() and not args.tiny
    args.tiny = not cuda
    cpus = os.cpu_count() or 1
    if args.tiny:
        defaults = {"models": ["test_resnet", "test_efficientnet"], "max_total_s": 600.0, "input_seconds": 1.0,
                    "input_batch": 8, "input_image_size": 32, "input_variants": ["fast_no_pin", "reference"],
                    "run_warmup": 2, "synthetic_classes": 4, "synthetic_per_class": 16, "synthetic_val_per_class": 1,
                    "reference_workers": 1, "peak_n": 256, "peak_reps": 3, "peak_trials": 3, "ablation_seconds": 1.0,
                    "seconds": 1.5, "image_size": 32, "batch": 8, "pairs": 1, "warmup": 2,
                    "throttle_models": ["test_resnet:32:8"], "throttle_seconds": 0.4, "throttle_rounds": 2,
                    "peers_arms": ["none", "sci_lightning", "codecarbon", "carbontracker", "zeus"], "peers_rounds": 1,
                    "peers_steps": 8, "peers_arm_timeout_s": 40.0}
        args.synthetic_px = min(args.synthetic_px, 32)
        args.run_overhead_s = 1.0
        args.peers_process_s = 6.0
        caps = dict(TINY_SECTION_CAP_S)
    else:
        # 200 x 128 = 25 600 train images: epochs of a whole number of 64/128/256 batches
        defaults = {"models": ["inception_v3", "densenet121"], "max_total_s": 480.0, "input_seconds": 8.0,
                    "input_batch": 256, "input_variants": ["fast_no_pin", "reference"], "run_warmup": 15,
                    "synthetic_classes": 200, "synthetic_per_class": 128, "synthetic_val_per_class": 2,
                    "reference_workers": max(1, min(12, cpus - 2)), "peak_n": 8192, "peak_reps": 20,
                    "peak_trials": 7, "ablation_seconds": 6.0,
                    "seconds": 20.0, "image_size": 224, "batch": 64, "pairs": 2, "warmup": 10,
                    # real step rates: a large model at the energy settings and a small, fast-stepping one
                    "throttle_models": ["resnet18:64:32", "densenet121:224:64"], "throttle_seconds": 2.0,
                    "throttle_rounds": 2, "peers_arms": ["none", "sci_lightning", "codecarbon", "carbontracker", "zeus"],
                    "peers_rounds": 3, "peers_steps": 512, "peers_arm_timeout_s": 30.0}
        args.run_overhead_s = 8.0
        args.peers_process_s = 10.0
        caps = dict(SECTION_CAP_S)
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


def main(argv=None) -> int:
    args = parse_args(argv)
    cuda = args.accelerator == "gpu"
    budget = Budget(args.max_total_s, T_START)
    if cuda:
        torch.backends.cudnn.benchmark = True
    else:
        # smoke run on a shared CPU: one intra-op thread, so that a busy neighbour core
        # cannot stall OpenMP barriers (its numbers measure nothing anyway)
        torch.set_num_threads(1)
        warnings.filterwarnings("ignore", message=r".*pin_memory.*no accelerator.*")
    os.makedirs(args.out, exist_ok=True)
    args.scratch = tempfile.mkdtemp(prefix="gpu_check_scratch_")
    own_data_dir = args.data_dir is None
    if own_data_dir:
        args.data_dir = tempfile.mkdtemp(prefix="gpu_check_data_")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    logging.getLogger("lightning.fabric").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")

    # a hung run (e.g. a stuck loader worker) must not eat the device session: dump the
    # stacks and exit shortly after the budget; the JSON written so far stays
    faulthandler.enable()
    faulthandler.dump_traceback_later(max(1.0, budget.left() + 30), exit=True)
    est = estimate(args)
    report: dict = {
        "mode": "gpu" if cuda else "tiny (CPU smoke run)",
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": _command_line(),
        "device": device_info(cuda),
        "settings": {k: v for k, v in vars(args).items() if k not in ("scratch",)},
        "estimate_s": est, "estimate_total_s": sum(est.values()), "max_total_s": args.max_total_s,
        "section_caps_s": dict(args.section_caps),
        "sections": {}, "section_s": {},
        "not_measured": [
            "head-only training energy with / without model.cache_features over 10 epochs (issue 7): the feature "
            "is being built separately; to be added once ImageClassifier / the data layer expose it",
            *([] if args.compile else ["torch.compile (run with --compile; compilation costs minutes)"]),
            *([] if "reference_no_persistent" in args.input_variants else
              ["persistent_workers on/off: the default fast path reads in-process (no workers); run with "
               "--input-variants reference reference_no_persistent to time it on the worker-based reference path"]),
        ],
    }
    print(f"gpu_check: {report['mode']}; sections {' '.join(args.sections)}; models {' '.join(args.models)}", flush=True)
    print(f"time estimate: {report['estimate_total_s']:.0f} s "
          f"({', '.join(f'{k} {v:.0f}' for k, v in est.items())}); hard stop for new runs at {args.max_total_s:.0f} s",
          flush=True)
    if report["estimate_total_s"] > args.max_total_s:
        print("WARNING: the estimate exceeds --max-total-s; the last runs will be skipped", flush=True)
    write_outputs(args, report)

    funcs = {"input": section_input, "mfu": section_mfu, "ablation": section_ablation, "energy": section_energy,
             "throttle": section_throttle, "peers": section_peers}
    try:
        for name in SECTIONS:
            if name not in args.sections:
                continue
            t = time.perf_counter()
            print(f"# section {name} (at {budget.elapsed():.0f} s)", flush=True)
            cap = args.section_caps.get(name, budget.left())
            sec_budget = Budget(min(cap, budget.left()))  # this section's share, never past the whole budget
            got = _guarded(report, sec_budget, name, 1, funcs[name], args, report, sec_budget)
            partial = report["sections"].get(name)
            if isinstance(partial, dict) and partial is not got:
                partial.update(got)  # failed or skipped after some runs: keep those
            else:
                report["sections"][name] = got
            report["section_s"][name] = round(time.perf_counter() - t, 1)
            report["total_s"] = budget.elapsed()
            write_outputs(args, report)
    finally:
        shutil.rmtree(args.scratch, ignore_errors=True)
        if own_data_dir:
            shutil.rmtree(args.data_dir, ignore_errors=True)
    faulthandler.cancel_dump_traceback_later()
    report["total_s"] = budget.elapsed()
    write_outputs(args, report)
    print(f"wrote {os.path.join(args.out, 'gpu_check' if cuda else 'gpu_check_tiny')}.json/.md in "
          f"{report['total_s']:.0f} s (estimate {report['estimate_total_s']:.0f} s); "
          f"{len(report.get('errors', []))} errors, {len(report.get('skipped', []))} skipped", flush=True)
    return 1 if report.get("errors") else 0


if __name__ == "__main__":
    sys.exit(main())
