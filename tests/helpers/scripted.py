"""Scripted time and power for exact accounting tests: a clock the model advances, a meter of
constant power on it, and a tiny LightningModule whose every step takes a known (scripted) time.

With :class:`ScriptClock` given to both the meter and ``EnergyCarbonCallback(clock=...)``,
the energy of any window is exactly ``power_w x scripted seconds``: the clock moves only
when the model runs a step, so no figure depends on how fast the machine is or on which
hook read the meter last. All objects are picklable (``ddp_spawn`` sends them to workers).
:class:`ScriptClock` itself lives in :mod:`clocks` (imported here for the callers of this module).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import torch
from clocks import ScriptClock
from lightning.pytorch import Callback, LightningModule, Trainer
from torch.utils.data import DataLoader, Dataset, IterableDataset, TensorDataset

from sci_lightning.energy.base import METHODS, ComponentEnergy, EnergyMeter


class BatchStepClock(Callback):
    """A datetime clock for schedules: ``step`` later after every training batch; ``sleep`` moves it
    on (give it as the schedule's ``clock`` and ``sleep``, and as a Trainer callback)."""

    def __init__(self, now: datetime, step: timedelta) -> None:
        self.now, self.step, self.slept_s = now, step, 0.0

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept_s += seconds
        self.now += timedelta(seconds=seconds)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.now += self.step


class ConstantPowerMeter(EnergyMeter):
    """``power_w`` watts on the scripted clock: ``read_j`` = power x seconds since ``start``.

    ``device`` may be a ``{rank: device}`` map resolved at ``start`` (DDP: one device per rank).
    """

    def __init__(
        self,
        clock: ScriptClock,
        power_w: float = 10.0,
        component: str = "gpu",
        device: str | dict[int, str] = "GPU-0",
        method: str = "nvml_energy_counter",
    ) -> None:
        self.clock, self.power_w, self.component, self.method = clock, power_w, component, method
        self._device_arg = device
        self.device = device if isinstance(device, str) else "?"
        self._t0 = 0.0

    def start(self) -> None:
        if isinstance(self._device_arg, dict):
            self.device = self._device_arg[int(os.environ.get("LOCAL_RANK", 0))]
        self._t0 = self.clock()

    def read_j(self) -> dict[str, float]:
        return {self.device: self.power_w * (self.clock() - self._t0)}

    def components(self) -> list[ComponentEnergy]:
        return [
            ComponentEnergy(
                self.component, self.device, self.read_j()[self.device], self.method, METHODS[self.method][0]
            )
        ]


@dataclass
class DataclassBatch:
    x: torch.Tensor
    y: torch.Tensor


class CustomBatch:
    """A batch Lightning cannot size: no tensor reachable (the data hides in a method)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self._x, self._y = x, y

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self._x, self._y

    def __len__(self) -> int:
        return len(self._x)


def _collate(kind: str):
    def collate(items: list[tuple[torch.Tensor, torch.Tensor]]) -> Any:
        x = torch.stack([i[0] for i in items])
        y = torch.stack([i[1] for i in items])
        if kind == "dict":
            return {"name": "batch", "x": x, "y": y}  # first value is not a tensor
        if kind == "dataclass":
            return DataclassBatch(x, y)
        if kind == "custom":
            return CustomBatch(x, y)
        return x, y

    return collate


class _Stream(IterableDataset):
    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __iter__(self):
        return iter(zip(self.x, self.y))


def _xy(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(batch, dict):
        return batch["x"], batch["y"]
    if isinstance(batch, DataclassBatch):
        return batch.x, batch.y
    if isinstance(batch, CustomBatch):
        return batch.tensors()
    return batch[0], batch[1]


class ScriptedModule(LightningModule):
    """A 2-layer MLP whose training step takes ``train_s`` scripted seconds (``train_s_by_epoch``
    overrides it per epoch) and every evaluation step ``eval_s``; counts its step calls."""

    def __init__(
        self,
        clock: ScriptClock,
        n: int = 64,
        batch_size: int = 8,
        train_s: float = 1.0,
        eval_s: float = 0.5,
        batch_kind: str = "tuple",
        iterable: bool = False,
        manual: bool = False,
        train_s_by_epoch: list[float] | None = None,
        fail_at_batch: int | None = None,
    ) -> None:
        super().__init__()
        self.clock, self.n, self.batch_size = clock, n, batch_size
        self.train_s, self.eval_s, self.train_s_by_epoch = train_s, eval_s, train_s_by_epoch
        self.batch_kind, self.iterable, self.fail_at_batch = batch_kind, iterable, fail_at_batch
        self.automatic_optimization = not manual
        self.net = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
        self.calls = {"train": 0, "validate": 0, "test": 0, "predict": 0}

    def _loss(self, batch: Any) -> torch.Tensor:
        x, y = _xy(batch)
        return torch.nn.functional.cross_entropy(self.net(x), y)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor | None:
        if self.fail_at_batch is not None and self.calls["train"] == self.fail_at_batch:
            raise RuntimeError("scripted failure")
        by_epoch = self.train_s_by_epoch
        self.clock.advance(by_epoch[self.current_epoch] if by_epoch else self.train_s)
        self.calls["train"] += 1
        loss = self._loss(batch)
        self.log("train_loss", loss)
        if self.automatic_optimization:
            return loss
        for opt in self.optimizers():
            opt.zero_grad()
            self.manual_backward(self._loss(batch))
            opt.step()
        return None

    def _eval(self, stage: str, batch: Any) -> torch.Tensor:
        self.clock.advance(self.eval_s)
        self.calls[stage] += 1
        return self._loss(batch)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.log("val_loss", self._eval("validate", batch))

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self.log("test_loss", self._eval("test", batch))

    def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        self._eval("predict", batch)
        return self.net(_xy(batch)[0])

    def configure_optimizers(self) -> Any:
        opt = lambda: torch.optim.SGD(self.parameters(), lr=0.01)  # noqa: E731
        return [opt(), opt()] if not self.automatic_optimization else opt()

    def _loader(self) -> DataLoader:
        g = torch.Generator().manual_seed(0)
        x, y = torch.randn(self.n, 16, generator=g), torch.randint(0, 4, (self.n,), generator=g)
        data: Dataset = _Stream(x, y) if self.iterable else TensorDataset(x, y)
        return DataLoader(data, batch_size=self.batch_size, collate_fn=_collate(self.batch_kind))

    def train_dataloader(self) -> DataLoader:
        return self._loader()

    def val_dataloader(self) -> DataLoader:
        return self._loader()

    def test_dataloader(self) -> DataLoader:
        return self._loader()

    def predict_dataloader(self) -> DataLoader:
        return self._loader()


def quiet_trainer(
    root: str | os.PathLike[str], callbacks: list[Callback] | None = None, **settings: Any
) -> Trainer:
    """A one-device CPU ``Trainer`` rooted at ``root`` that prints and keeps nothing of its own: no
    logger, checkpointing, progress bar or model summary unless ``settings`` says otherwise
    (``settings`` are the Trainer's own arguments and override these defaults)."""
    defaults: dict[str, Any] = {
        "accelerator": "cpu",
        "devices": 1,
        "logger": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "enable_checkpointing": False,
    }
    return Trainer(default_root_dir=str(root), callbacks=callbacks or [], **{**defaults, **settings})
