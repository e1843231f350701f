"""The two ways the check trains a model and times it.

* :class:`SyntheticClassifier` + :func:`fit_fixed` + :class:`StepTimer`: a timm model on one
  fixed random batch kept on the device (energy and throttle sections); ms per step after
  warm-up, the device synchronized at the edges.
* :func:`timed_fit`: the project's own ``ImageClassifier`` in a real Lightning ``Trainer``,
  fed either one batch of tensors already on the device or a real input path (``DataConfig``
  of ``INPUT_PATHS``); :class:`ThroughputTimer` counts images/s over a steady-state window.
"""

from __future__ import annotations

import time

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader, Dataset, TensorDataset

from .common import INPUT_PATHS, device_of, free_memory


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


def fixed_loader(steps: int, batch: int) -> DataLoader:
    """``steps`` batches of indices (the model trains on its own fixed batch)."""
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


def calibrate_steps(model: SyntheticClassifier, args, seconds: float, min_step_s: float) -> tuple[float, int]:
    """A warm-up fit (kernel selection, allocator, first-call costs), then a short timed one:
    (seconds per step, steps for ``seconds`` of steady training)."""
    fit_fixed(model, 2 * args.warmup + 5, args, [])
    timer = StepTimer(skip=args.warmup)
    fit_fixed(model, args.warmup + 10, args, [timer])
    step_s = max(timer.step_s, min_step_s)
    return step_s, max(args.warmup + 10, int(seconds / step_s) + args.warmup)


def fit_fixed(model: SyntheticClassifier, steps: int, args, callbacks: list[Callback]) -> None:
    """One ``Trainer.fit`` of ``steps`` steps on the model's fixed batch, no logger or checkpoints."""
    trainer = Trainer(
        accelerator=args.accelerator,
        devices=1,
        precision=args.precision,
        max_epochs=1,
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=args.scratch,
        benchmark=args.accelerator == "gpu" or None,
    )
    trainer.fit(model, train_dataloaders=fixed_loader(steps, model.batch))


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
        return {
            "images_per_s": self.images / dt,
            "ms_per_step": dt / self.steps * 1e3,
            "timed_steps": self.steps,
            "timed_s": dt,
            "warmup_steps": self.warmup,
        }


class SameBatch(Dataset):
    """``n`` times the same (images, labels) batch, already on the device (``batch_size=None``)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, n: int) -> None:
        self.x, self.y, self.n = x, y, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        return self.x, self.y


def mean_std(net) -> tuple[tuple, tuple]:
    """The network's normalization (timm data config; ImageNet's if unknown)."""
    try:
        import timm.data

        cfg = timm.data.resolve_model_data_config(net)
        return tuple(cfg["mean"]), tuple(cfg["std"])
    except Exception:
        return (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def data_config(args, path: str):
    """The project's DataConfig (a plain dataclass: no omegaconf needed) for one input path."""
    from sci_lightning.data import DataConfig

    over = dict(INPUT_PATHS[path])
    pipeline = over.pop("pipeline")
    workers = args.reference_workers if pipeline == "reference" else args.cpus  # fast: decode processes
    return DataConfig(
        name="synthetic",
        cache_dir=args.data_dir,
        batch_size=args.input_batch,
        num_workers=workers,
        pipeline=pipeline,
        augment=True,
        synthetic_classes=args.synthetic_classes,
        synthetic_train_per_class=args.synthetic_per_class,
        synthetic_val_per_class=args.synthetic_val_per_class,
        synthetic_image_px=args.synthetic_px,
        **over,
    )


def timed_fit(
    args,
    *,
    model_name: str,
    image_size: int,
    batch: int,
    precision: str,
    seconds: float,
    path: str = "tensors",
    channels_last: bool = True,
    benchmark: bool = True,
    compile_model: bool = False,
) -> dict:
    """Images/s of :class:`ImageClassifier` in a real ``Trainer.fit``, fed by ``path``
    (``tensors``: one batch already on the device; else a key of INPUT_PATHS)."""
    from sci_lightning.lightning.classifier import ImageClassifier

    device = device_of(args)
    t_start = time.perf_counter()
    model = ImageClassifier(
        model_name,
        num_classes=args.synthetic_classes,
        image_size=image_size,
        channels_last=channels_last,
        scheduler="none",
    )
    if compile_model:
        model.model = torch.compile(model.model)
    timer = ThroughputTimer(args.run_warmup, seconds)
    trainer = Trainer(
        accelerator=args.accelerator,
        devices=1,
        precision=precision,
        benchmark=benchmark if device.type == "cuda" else None,
        max_epochs=-1,
        max_steps=args.run_warmup + args.max_timed_steps,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=50,
        callbacks=[timer],
        default_root_dir=args.scratch,
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

        mean, std = mean_std(model.model)
        cfg = data_config(args, path)
        cfg.batch_size = batch
        dm = build_datamodule(cfg, image_size=image_size, mean=mean, std=std, progress=False)
        trainer.fit(model, datamodule=dm)
    out = timer.result()
    out["run_wall_s"] = time.perf_counter() - t_start
    del model, trainer, timer
    free_memory()
    return out
