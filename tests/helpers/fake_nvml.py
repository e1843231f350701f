"""A scripted fake NVIDIA driver for tests: replaces pynvml's functions at the NVML boundary.

``FakeNvml.install(monkeypatch)`` patches ``pynvml.nvmlInit``, ``nvmlDeviceGetCount``,
``nvmlDeviceGetHandleByIndex``, ``nvmlDeviceGetUUID``, ``nvmlDeviceGetName``,
``nvmlDeviceGetTotalEnergyConsumption``, ``nvmlDeviceGetPowerUsage``,
``nvmlDeviceGetFieldValues`` and ``nvmlShutdown``. Errors are real ``pynvml.NVMLError``
subclasses, so the meter's error handling is exercised as on a real driver.
``FakeNvml(latency_s=...)`` makes every per-read call (energy counter, power, field
values) take that long, as a busy-wait holding the GIL (``busy=True``, the default: the
worst case for the training thread) or a sleep (``busy=False``: like ctypes, which
releases the GIL), so overhead can be measured at a real driver's call cost without a GPU.
A ``FakeGpu.energy_mj`` may be a callable (e.g. a counter that advances with a fake clock).
Also holds small picklable fake meters used by the callback and DDP tests.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pynvml

from sci_lightning.energy.base import METHODS, ComponentEnergy, EnergyMeter


@dataclass
class FakeGpu:
    uuid: str
    name: str = "Fake GPU"
    energy_mj: int | Callable[[], int] = (
        1_000_000  # counter value (driver-load relative), or a function of it
    )
    power_mw: Callable[[], float] | float = 100_000.0
    counter_supported: bool = True
    field_supported: bool = True
    fail_counter_after: int | None = None  # raise GpuIsLost after this many counter reads
    counter_reads: int = 0
    power_reads: int = 0

    def counter_mj(self) -> int:
        return int(self.energy_mj() if callable(self.energy_mj) else self.energy_mj)

    def power(self) -> float:
        return float(self.power_mw() if callable(self.power_mw) else self.power_mw)


class _Value:
    def __init__(self, ui: int) -> None:
        self.uiVal = ui


class _Field:
    def __init__(self, ret: int, mw: int) -> None:
        self.nvmlReturn = ret
        self.value = _Value(mw)


@dataclass
class FakeNvml:
    gpus: list[FakeGpu] = field(default_factory=list)
    init_error: type[pynvml.NVMLError] | None = None
    inits: int = 0
    latency_s: float = 0.0  # time each per-read call takes
    busy: bool = True  # busy-wait (holds the GIL) rather than sleep
    calls: int = 0  # per-read calls made

    def _wait(self) -> None:
        """One per-read driver call: count it and spend ``latency_s``."""
        self.calls += 1
        if self.latency_s <= 0:
            return
        if not self.busy:
            time.sleep(self.latency_s)
            return
        end = time.perf_counter() + self.latency_s
        while time.perf_counter() < end:
            pass

    def install(self, monkeypatch: Any) -> FakeNvml:
        m = monkeypatch

        def nvmlInit() -> None:
            if self.init_error is not None:
                raise self.init_error()
            self.inits += 1

        def handle(i: int) -> FakeGpu:
            if not 0 <= i < len(self.gpus):
                raise pynvml.NVMLError_InvalidArgument()
            return self.gpus[i]

        def counter(h: FakeGpu) -> int:
            self._wait()
            if not h.counter_supported:
                raise pynvml.NVMLError_NotSupported()
            h.counter_reads += 1
            if h.fail_counter_after is not None and h.counter_reads > h.fail_counter_after:
                raise pynvml.NVMLError_GpuIsLost()
            return h.counter_mj()

        def power_usage(h: FakeGpu) -> int:
            self._wait()
            h.power_reads += 1
            return int(h.power())

        def field_values(h: FakeGpu, ids: list[int]) -> list[_Field]:
            self._wait()
            if not h.field_supported:
                return [_Field(pynvml.NVML_ERROR_NOT_SUPPORTED, 0) for _ in ids]
            h.power_reads += 1
            return [_Field(pynvml.NVML_SUCCESS, int(h.power())) for _ in ids]

        m.setattr(pynvml, "nvmlInit", nvmlInit)
        m.setattr(pynvml, "nvmlShutdown", lambda: None)
        m.setattr(pynvml, "nvmlDeviceGetCount", lambda: len(self.gpus))
        m.setattr(pynvml, "nvmlDeviceGetHandleByIndex", handle)
        m.setattr(pynvml, "nvmlDeviceGetUUID", lambda h: h.uuid)
        m.setattr(pynvml, "nvmlDeviceGetName", lambda h: h.name)
        m.setattr(pynvml, "nvmlDeviceGetTotalEnergyConsumption", counter)
        m.setattr(pynvml, "nvmlDeviceGetPowerUsage", power_usage)
        m.setattr(pynvml, "nvmlDeviceGetFieldValues", field_values)
        return self


class StepMeter(EnergyMeter):
    """Deterministic picklable meter: ``joules_per_read`` more on every ``read_j``.

    ``device`` may be a ``{rank: device}`` map, resolved at ``start()`` from the ``RANK``
    / ``LOCAL_RANK`` environment (as set by Lightning's DDP launchers), so that one
    object pickled to several ranks can stand for different devices.
    """

    def __init__(
        self,
        component: str = "gpu",
        device: str | dict[int, str] = "GPU-fake",
        joules_per_read: float = 1.0,
        method: str = "nvml_energy_counter",
    ) -> None:
        self.component = component
        self._device_arg = device
        self.device = device if isinstance(device, str) else "?"
        self.joules_per_read = joules_per_read
        self.method = method
        self.energy_j = 0.0
        self.reads = 0

    def start(self) -> None:
        if isinstance(self._device_arg, dict):
            import torch.distributed as dist

            rank = (
                dist.get_rank()
                if dist.is_available() and dist.is_initialized()
                else int(os.environ.get("LOCAL_RANK", 0))
            )
            self.device = self._device_arg[rank]
        self.energy_j = 0.0
        self.reads = 0

    def read_j(self) -> dict[str, float]:
        self.reads += 1
        self.energy_j += self.joules_per_read
        return {self.device: self.energy_j}

    def components(self) -> list[ComponentEnergy]:
        return [
            ComponentEnergy(self.component, self.device, self.energy_j, self.method, METHODS[self.method][0])
        ]


# --------------------------------------------------------------------------- tiny model
import torch  # noqa: E402
from lightning.pytorch import LightningModule  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402


class TinyModule(LightningModule):
    """A 2-layer MLP on random tensors: fast enough for callback tests on CPU."""

    def __init__(self, n: int = 64, batch_size: int = 8, features: int = 16) -> None:
        super().__init__()
        self.n, self.batch_size, self.features = n, batch_size, features
        self.net = torch.nn.Sequential(torch.nn.Linear(features, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.cross_entropy(self.net(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self) -> DataLoader:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(self.n, self.features, generator=g)
        y = torch.randint(0, 4, (self.n,), generator=g)
        return DataLoader(TensorDataset(x, y), batch_size=self.batch_size)
