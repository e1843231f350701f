"""Count the work of a training job for the SCI for AI functional units (:class:`WorkCounter`).

FLOPs are measured, not estimated from a formula: the first training batch is run once
more through the module (forward, loss, backward) under
:class:`torch.utils.flop_counter.FlopCounterMode`, and the first validation batch
forward only. The module's state is left as it was: gradients, buffers (batch-norm
statistics) and the random-number state are restored, so the training is unchanged.
FLOPs per image x images run gives the job's FLOPs (a smaller last batch counts its
own images). ``FlopCounterMode`` counts matrix products and convolutions (the dominant
operations), not element-wise ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities.types import STEP_OUTPUT
from torch.utils.flop_counter import FlopCounterMode

from sci_lightning.sci.work import WorkCounts

if TYPE_CHECKING:
    from lightning.pytorch import LightningModule, Trainer

__all__ = ["WorkCounter", "forward_flops", "training_flops"]

#: A batch as the counter reads it: ``(x, y)`` (a list from ``default_collate``, a tuple from the
#: fast input path; more items are ignored) or ``x`` alone.
_Batch = torch.Tensor | list[torch.Tensor] | tuple[torch.Tensor, ...]

_COUNTER_METHOD = "torch.utils.flop_counter.FlopCounterMode (matmul/conv FLOPs; element-wise ops not counted)"


def count_flops(fn: Callable[[], Any]) -> float:
    """FLOPs that ``fn()`` runs, as counted by ``FlopCounterMode``."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


@contextmanager
def _state_kept(module: torch.nn.Module) -> Iterator[None]:
    """Run a block on ``module`` and restore its gradients, buffers and the RNG state afterwards."""
    grads = {p: (None if p.grad is None else p.grad.detach().clone()) for p in module.parameters()}
    buffers = {name: b.detach().clone() for name, b in module.named_buffers()}
    cuda = [d for d in {p.device for p in module.parameters()} if d.type == "cuda"]
    with torch.random.fork_rng(devices=cuda):
        try:
            yield
        finally:
            with torch.no_grad():
                for p, g in grads.items():
                    p.grad = g
                for name, b in module.named_buffers():
                    if name in buffers:
                        b.copy_(buffers[name])


def _inputs(batch: _Batch) -> tuple[torch.Tensor, torch.Tensor | None]:
    if isinstance(batch, (list, tuple)):
        return batch[0], (batch[1] if len(batch) > 1 else None)
    return batch, None


def training_flops(module: torch.nn.Module, batch: _Batch) -> float:
    """FLOPs of one training step's forward and backward pass on ``batch`` (``(x, y)`` or ``x``).

    The loss is the cross-entropy of the logits against ``y`` (their sum without labels);
    the module's gradients, buffers and RNG state are restored afterwards.
    """
    x, y = _inputs(batch)

    def step() -> None:
        with torch.enable_grad():
            logits = module(x)
            loss = F.cross_entropy(logits, y) if y is not None else logits.sum()
            loss.backward()

    with _state_kept(module):
        return count_flops(step)


def forward_flops(module: Callable[[torch.Tensor], Any], x: torch.Tensor) -> float:
    """FLOPs of a forward pass of ``module`` on ``x`` (no gradients)."""
    with torch.no_grad():
        return count_flops(lambda: module(x))


def _batch_tokens(batch: _Batch) -> int:
    """Tokens in a batch of sequence data: an integer (token-id) input of shape (N, T, ...); 0 otherwise."""
    x, _ = _inputs(batch)
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or x.is_floating_point() or x.is_complex():
        return 0
    return int(x.numel())


def _batch_images(batch: _Batch) -> int:
    x, _ = _inputs(batch)
    return int(x.shape[0]) if hasattr(x, "shape") and x.ndim > 0 else 0


class WorkCounter(pl.Callback):
    """Lightning callback: FLOPs, parameters and images of the fit, as :class:`WorkCounts`.

    Read :meth:`work_counts` at any time (also after an interruption): it covers the
    batches run so far, times the world size under DDP (equal shares). The counts travel
    in checkpoints (:meth:`state_dict`), so a resumed job counts every part's batches up to
    the checkpoint it resumed from plus its own, as its energy does.
    With cached features (:class:`~sci_lightning.lightning.features.CachedFeaturesDataModule`)
    the head trains on features, so the backbone's one-off extraction is added as its
    forward FLOPs per image x ``images_extracted``.
    """

    def __init__(self) -> None:
        self.train_flops_per_image: float | None = None
        self.val_flops_per_image: float | None = None
        self.extraction_flops_per_image: float | None = None
        self.train_images = 0
        self.train_tokens = 0
        self.train_batches = 0
        self.val_images = 0
        self.val_batches = 0
        self._module: LightningModule | None = None
        self._trainer: Trainer | None = None

    # -- hooks -------------------------------------------------------------------------
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._trainer, self._module = trainer, pl_module

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: _Batch, batch_idx: int
    ) -> None:
        if self.train_flops_per_image is None and _batch_images(batch) > 0:
            self.train_flops_per_image = training_flops(pl_module, batch) / _batch_images(batch)

    def on_train_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: STEP_OUTPUT,
        batch: _Batch,
        batch_idx: int,
    ) -> None:
        self.train_images += _batch_images(batch)
        self.train_tokens += _batch_tokens(batch)
        self.train_batches += 1

    def on_validation_batch_start(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        batch: _Batch,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if self.val_flops_per_image is None and _batch_images(batch) > 0:
            x, _ = _inputs(batch)
            self.val_flops_per_image = forward_flops(pl_module, x) / _batch_images(batch)

    def on_validation_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: STEP_OUTPUT,
        batch: _Batch,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if not trainer.sanity_checking:
            self.val_images += _batch_images(batch)
            self.val_batches += 1

    # -- checkpoint ----------------------------------------------------------------------
    _STATE_KEYS = (
        "train_flops_per_image",
        "val_flops_per_image",
        "train_images",
        "train_batches",
        "val_images",
        "val_batches",
        "train_tokens",
    )

    def state_dict(self) -> dict[str, Any]:
        """The counts so far (rank 0's), saved in each checkpoint."""
        return {key: getattr(self, key) for key in self._STATE_KEYS}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Continue from a checkpoint's counts (a resumed job adds its batches to them)."""
        for key in self._STATE_KEYS:
            if key in state_dict:
                setattr(self, key, state_dict[key])

    # -- counts ------------------------------------------------------------------------
    def _extraction(self) -> tuple[float, int]:
        """(backbone forward FLOPs per image, images extracted) of a cached-features fit, else (0, 0)."""
        dm = getattr(self._trainer, "datamodule", None)
        extracted = int(getattr(dm, "images_extracted", 0) or 0)
        module = self._module
        pooled = getattr(module, "pooled_features", None)
        if not extracted or module is None or not callable(pooled):
            return 0.0, 0
        if self.extraction_flops_per_image is None:
            size = int(module.hparams["image_size"])
            x = torch.zeros(1, 3, size, size, device=module.device)
            was_training = module.training
            module.eval()
            self.extraction_flops_per_image = forward_flops(pooled, x)
            module.train(was_training)
        return self.extraction_flops_per_image, extracted

    def _parameters(self) -> tuple[int, int]:
        module = self._module
        if module is None:
            return 0, 0
        if hasattr(module, "num_parameters"):
            return tuple(int(n) for n in module.num_parameters())  # type: ignore[return-value]
        params = list(module.parameters())
        return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)

    def work_counts(self) -> WorkCounts:
        """The work so far (this process x world size)."""
        world = int(getattr(self._trainer, "world_size", 1) or 1)
        train_pi, val_pi = self.train_flops_per_image or 0.0, self.val_flops_per_image or 0.0
        ext_pi, extracted = self._extraction()
        gross, trainable = self._parameters()
        counts = WorkCounts(
            train_flops=train_pi * self.train_images * world,
            val_flops=val_pi * self.val_images * world,
            extraction_flops=ext_pi * extracted * world,
            train_flops_per_step=train_pi
            * (self.train_images / self.train_batches if self.train_batches else 0.0),
            val_flops_per_batch=val_pi * (self.val_images / self.val_batches if self.val_batches else 0.0),
            train_steps=self.train_batches * world,
            val_batches=self.val_batches * world,
            parameters_gross=gross,
            parameters_effective=gross,  # dense timm models: every parameter is active per inference
            parameters_trainable=trainable,
            images_seen=self.train_images * world,
            tokens_seen=self.train_tokens * world,
            methods=self._methods(world, extracted),
        )
        counts.notes.append(
            "measuring ran one extra training forward + backward and one validation forward "
            "pass; their energy is part of E."
        )
        if world > 1:
            counts.notes.append(f"counts of rank 0 x world size {world} (equal shares assumed).")
        return counts

    @staticmethod
    def _methods(world: int, extracted: int) -> dict[str, str]:
        methods = {
            "train_flops": f"{_COUNTER_METHOD}: forward + backward of the first training batch, per image, "
            "x training images run",
            "val_flops": f"{_COUNTER_METHOD}: forward of the first validation batch, per image, "
            "x validation images run (sanity check excluded)",
            "parameters_gross": "sum of numel() over all parameters of the final model",
            "parameters_effective": "active parameters per inference: the model is dense, so every parameter "
            "(= gross; SCI for AI 8.2.2)",
            "parameters_trainable": "sum of numel() over parameters with requires_grad (trained)",
            "images_seen": "training samples in the batches run",
            "tokens_seen": "numel of integer (token-id) inputs of the training batches run; 0 for image inputs",
        }
        if extracted:
            methods["extraction_flops"] = (
                f"{_COUNTER_METHOD}: frozen-backbone forward of one image, "
                f"x {extracted} images extracted once (cached features)"
            )
        return methods
