"""NVIDIA GPU energy through NVML (``pynvml`` from the ``nvidia-ml-py`` package).

Per device, the best available method is used and every fallback is recorded:

1. ``nvml_energy_counter``: ``nvmlDeviceGetTotalEnergyConsumption`` (millijoules since
   the driver loaded; Volta and newer), read at step boundaries. Exact, and cheap (one
   call per device per read).
2. ``nvml_power_sampling``: a background thread samples power every
   ``sampling_interval_s`` (default 0.1 s) and integrates it with the trapezoid rule.
   The instantaneous field ``NVML_FI_DEV_POWER_INSTANT`` is preferred (through
   ``nvmlDeviceGetFieldValues``); where the driver lacks it ``nvmlDeviceGetPowerUsage``
   (milliwatts; a ~1 s moving average on Ampere and newer) is used and noted.
3. ``none``: nothing works (no library, no driver, device lost); 0 J, flagged.

Resolution: the energy counter refreshes about every ``COUNTER_REFRESH_S`` (0.1 s), so
a window shorter than that is resolved only to about one refresh; a power-sampled figure
covers ``samples x interval / window duration`` of its window. :meth:`NvmlEnergyMeter.resolution_notes`
states both for a window (the monitor takes a :meth:`~NvmlEnergyMeter.resolution_mark`
at the window's start).

A failure mid-run (e.g. ``NVMLError_GpuIsLost``) keeps the energy measured so far under
the old method, continues with the next one and marks the device ``partial``; the
meter warns once. Only the GPUs this process trains on are metered: CUDA device
indices (as Lightning's ``root_device.index`` sees them) are mapped to NVML devices via
``CUDA_VISIBLE_DEVICES`` (indices or UUIDs) and identified by UUID.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from typing_extensions import override

from sci_lightning.energy._common import FaultLog, add_note
from sci_lightning.energy.base import METHODS, ComponentEnergy, EnergyMeter

__all__ = ["NvmlEnergyMeter", "parse_cuda_visible_devices", "resolve_nvml_indices"]

COUNTER = "nvml_energy_counter"
SAMPLING = "nvml_power_sampling"
NONE = "none"
#: About how often the driver refreshes nvmlDeviceGetTotalEnergyConsumption (seconds).
COUNTER_REFRESH_S = 0.1

_UNSET: Any = object()


def parse_cuda_visible_devices(value: str | None) -> list[str] | None:
    """Entries of ``CUDA_VISIBLE_DEVICES`` in CUDA order; ``None`` when unset.

    Like the CUDA runtime, parsing stops at the first empty or invalid entry (an entry
    is an integer index or a UUID such as ``GPU-8f6d...``, possibly abbreviated).
    """
    if value is None:
        return None
    out: list[str] = []
    for raw in value.split(","):
        item = raw.strip()
        if not item:
            break
        if item.lstrip("-").isdigit():
            if int(item) < 0:
                break
            out.append(str(int(item)))
        elif item.upper().startswith(("GPU-", "MIG-")) or len(item) >= 4:
            out.append(item)
        else:
            break
    return out


def _norm_uuid(u: str) -> str:
    u = u.strip().lower()
    return u[4:] if u.startswith(("gpu-", "mig-")) else u


def resolve_nvml_indices(
    cuda_indices: list[int],
    nvml_uuids: list[str],
    visible: str | None = None,
    torch_uuids: dict[int, str] | None = None,
) -> list[int]:
    """Map CUDA device indices (as this process sees them) to NVML device indices.

    Args:
        cuda_indices: CUDA ordinals this process trains on (``root_device.index``).
        nvml_uuids: UUID of every NVML device, by NVML index.
        visible: the ``CUDA_VISIBLE_DEVICES`` value (``None``: unset, all devices visible).
        torch_uuids: optional ``{cuda_index: uuid}`` from
            ``torch.cuda.get_device_properties(i).uuid``; the most reliable mapping.

    Raises:
        LookupError: a CUDA index cannot be matched to an NVML device (message says why).
    """
    normed = [_norm_uuid(u) for u in nvml_uuids]

    def by_uuid(u: str) -> int:
        key = _norm_uuid(u)
        hits = [i for i, n in enumerate(normed) if n.startswith(key)]
        if len(hits) != 1:
            raise LookupError(f"UUID {u!r} matches {len(hits)} NVML devices (of {len(nvml_uuids)})")
        return hits[0]

    entries = parse_cuda_visible_devices(visible)
    out: list[int] = []
    for ci in cuda_indices:
        if torch_uuids and ci in torch_uuids:
            out.append(by_uuid(torch_uuids[ci]))
            continue
        if entries is None:
            phys: str = str(ci)
        else:
            if ci >= len(entries):
                raise LookupError(
                    f"CUDA device {ci} is not in CUDA_VISIBLE_DEVICES={visible!r} ({len(entries)} visible)"
                )
            phys = entries[ci]
        if phys.isdigit():
            idx = int(phys)
            if idx >= len(nvml_uuids):
                raise LookupError(f"GPU index {idx} not found: NVML reports {len(nvml_uuids)} devices")
            out.append(idx)
        else:
            out.append(by_uuid(phys))
    return out


def torch_device_uuids(cuda_indices: list[int]) -> dict[int, str]:
    """``{cuda_index: uuid}`` from torch where it exposes UUIDs; empty dict otherwise."""
    try:
        import torch

        if not torch.cuda.is_available():
            return {}
        out = {}
        for i in cuda_indices:
            u = getattr(torch.cuda.get_device_properties(i), "uuid", None)
            if u is not None:
                out[i] = str(u)
        return out
    except Exception:
        return {}


@dataclass
class _Gpu:
    """Mutable per-device state (guarded by the meter's lock)."""

    nvml_index: int
    handle: Any
    uuid: str
    name: str
    method: str = COUNTER
    counter_base_mj: int = 0
    energy_by_method: dict[str, float] = field(default_factory=dict)
    last_t: float | None = None
    last_p_w: float = 0.0
    power_source: str = ""
    status: str = "ok"
    notes: list[str] = field(default_factory=list)
    samples: int = 0  # power samples integrated so far

    @property
    def energy_j(self) -> float:
        return sum(self.energy_by_method.values())


class NvmlEnergyMeter(EnergyMeter):
    """Energy of the GPUs this process trains on, measured through NVML.

    Args:
        device_indices: CUDA ordinals (as seen by this process, i.e. after
            ``CUDA_VISIBLE_DEVICES``) to meter, e.g. ``[trainer.strategy.root_device.index]``.
        mode: ``"auto"`` (counter, else sampling), ``"counter"`` (same order; named for
            clarity) or ``"sampling"`` (force power sampling, e.g. to compare methods).
        sampling_interval_s: power sampling period of the background thread.
        clock: monotonic clock in seconds (injectable for tests).
        visible_devices: ``CUDA_VISIBLE_DEVICES`` override; default reads the environment
            at :meth:`start`.
        torch_uuids: ``{cuda_index: uuid}`` override; default asks torch at :meth:`start`.
        start_sampler_thread: set ``False`` to drive :meth:`sample` by hand (tests).

    The constructor does no I/O, so a meter can be pickled to spawned DDP workers.
    """

    component = "gpu"

    def __init__(
        self,
        device_indices: list[int],
        mode: str = "auto",
        sampling_interval_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        visible_devices: str | None = _UNSET,
        torch_uuids: dict[int, str] | None = None,
        start_sampler_thread: bool = True,
    ) -> None:
        if mode not in ("auto", "counter", "sampling"):
            raise ValueError(f"mode must be auto|counter|sampling, got {mode!r}")
        self.device_indices = list(device_indices)
        self.mode = mode
        self.sampling_interval_s = float(sampling_interval_s)
        self.clock = clock
        self.visible_devices = visible_devices
        self.torch_uuids = torch_uuids
        self.start_sampler_thread = start_sampler_thread
        self._gpus: list[_Gpu] = []
        self._faults = FaultLog("GPU energy (NVML)")
        self._nvml: Any = None
        self._lock: threading.Lock | None = None
        self._stop_event: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self._unavailable: str | None = None

    # --- lifecycle -----------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for k in ("_lock", "_stop_event", "_thread", "_nvml"):
            state[k] = None
        state["_gpus"] = []
        return state

    def start(self) -> None:
        """Initialise NVML, resolve devices to UUIDs, take counter baselines."""
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        try:
            import pynvml
        except ImportError:
            self._set_unavailable(
                "the NVML Python bindings are missing; install them with `pip install nvidia-ml-py`"
            )
            return
        self._nvml = pynvml
        try:
            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
            handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            uuids = [str(pynvml.nvmlDeviceGetUUID(h)) for h in handles]
        except pynvml.NVMLError as err:
            self._set_unavailable(f"NVML could not be initialised ({err}); is the NVIDIA driver loaded?")
            return
        visible = (
            os.environ.get("CUDA_VISIBLE_DEVICES") if self.visible_devices is _UNSET else self.visible_devices
        )
        tuuids = self.torch_uuids if self.torch_uuids is not None else torch_device_uuids(self.device_indices)
        try:
            nvml_indices = resolve_nvml_indices(self.device_indices, uuids, visible, tuuids)
        except LookupError as err:
            self._set_unavailable(f"cannot tell which GPU this process uses: {err}")
            return
        for ni in nvml_indices:
            h = handles[ni]
            try:
                name = str(pynvml.nvmlDeviceGetName(h))
            except Exception:
                name = "unknown GPU"
            gpu = _Gpu(nvml_index=ni, handle=h, uuid=uuids[ni], name=name)
            add_note(gpu.notes, f"{name}, NVML index {ni}")
            self._gpus.append(gpu)
        now = self.clock()
        for gpu in self._gpus:
            if self.mode == "sampling":
                self._to_sampling(gpu, now, reason=None)
                continue
            try:
                gpu.counter_base_mj = int(pynvml.nvmlDeviceGetTotalEnergyConsumption(gpu.handle))
                gpu.energy_by_method[COUNTER] = 0.0
            except pynvml.NVMLError as err:
                # not a fault: pre-Volta GPUs simply lack the counter
                add_note(gpu.notes, f"energy counter unsupported ({err}); using power sampling")
                self._to_sampling(gpu, now, reason=None)
        self._maybe_start_thread()

    def _set_unavailable(self, reason: str) -> None:
        self._unavailable = reason
        self._faults.fault(f"GPU energy not measured: {reason}")

    def _maybe_start_thread(self) -> None:
        if not self.start_sampler_thread or self._thread is not None:
            return
        if not any(g.method == SAMPLING for g in self._gpus):
            return
        self._thread = threading.Thread(target=self._run_sampler, name="nvml-power-sampler", daemon=True)
        self._thread.start()

    def _run_sampler(self) -> None:
        assert self._stop_event is not None
        while not self._stop_event.wait(self.sampling_interval_s):
            self.sample()

    def stop(self) -> None:
        """Take the final reading, stop the sampler thread, shut NVML down."""
        if self._stop_event is not None:
            self._stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        self.read_j()
        self.sample()
        if self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except Exception:
                pass
            self._nvml = None

    # --- reading -------------------------------------------------------------------
    def _power_w(self, gpu: _Gpu) -> float:
        """Current board power in watts; prefers the instantaneous field value."""
        nv = self._nvml
        if gpu.power_source in ("", "field"):
            try:
                fid = getattr(nv, "NVML_FI_DEV_POWER_INSTANT", None)
                if fid is None:
                    raise nv.NVMLError(nv.NVML_ERROR_NOT_SUPPORTED)
                v = nv.nvmlDeviceGetFieldValues(gpu.handle, [fid])[0]
                if v.nvmlReturn != nv.NVML_SUCCESS:
                    raise nv.NVMLError(v.nvmlReturn)
                mw = float(v.value.uiVal)
                if gpu.power_source == "":
                    gpu.power_source = "field"
                    add_note(gpu.notes, "power: NVML_FI_DEV_POWER_INSTANT (instantaneous)")
                return mw / 1000.0
            except nv.NVMLError:
                if gpu.power_source == "field":
                    raise
                gpu.power_source = "usage"
                add_note(gpu.notes, "power: nvmlDeviceGetPowerUsage (driver-averaged on Ampere+)")
        return float(nv.nvmlDeviceGetPowerUsage(gpu.handle)) / 1000.0

    def _to_sampling(self, gpu: _Gpu, now: float, reason: str | None) -> None:
        """Switch a device to power sampling, taking its first sample now."""
        nv = self._nvml
        if reason:
            gpu.status = "partial"
            self._faults.fault(f"{gpu.uuid}: {reason}; continuing with power sampling")
            add_note(gpu.notes, f"{reason}; continued with power sampling")
        gpu.method = SAMPLING
        gpu.energy_by_method.setdefault(SAMPLING, 0.0)
        try:
            gpu.last_p_w = self._power_w(gpu)
            gpu.last_t = now
        except nv.NVMLError as err:
            self._to_none(gpu, f"power reading unsupported too ({err})")

    def _to_none(self, gpu: _Gpu, reason: str) -> None:
        gpu.method = NONE
        gpu.status = "partial"
        gpu.energy_by_method.setdefault(NONE, 0.0)
        self._faults.fault(f"{gpu.uuid}: {reason}; GPU energy after this point is not measured")
        add_note(gpu.notes, f"{reason}; energy after this point not measured")

    def sample(self, now: float | None = None) -> None:
        """Take one power sample on every sampling device and integrate (trapezoid rule)."""
        if self._lock is None or self._nvml is None:
            return
        with self._lock:
            t = self.clock() if now is None else now
            for gpu in self._gpus:
                if gpu.method != SAMPLING:
                    continue
                try:
                    p = self._power_w(gpu)
                except self._nvml.NVMLError as err:
                    self._to_none(gpu, f"power sampling failed ({err})")
                    continue
                if gpu.last_t is not None and t > gpu.last_t:
                    gpu.energy_by_method[SAMPLING] += 0.5 * (p + gpu.last_p_w) * (t - gpu.last_t)
                    gpu.samples += 1
                gpu.last_t, gpu.last_p_w = t, p

    def read_j(self) -> dict[str, float]:
        """Cumulative joules per GPU UUID since :meth:`start` (one NVML call per counter device)."""
        if self._lock is None:
            return {}
        with self._lock:
            out: dict[str, float] = {}
            for gpu in self._gpus:
                if gpu.method == COUNTER and self._nvml is not None:
                    try:
                        mj = int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(gpu.handle))
                        if mj < gpu.counter_base_mj:
                            raise ValueError(
                                f"energy counter went backwards ({gpu.counter_base_mj} -> {mj} mJ)"
                            )
                        gpu.energy_by_method[COUNTER] = (mj - gpu.counter_base_mj) / 1000.0
                    except (self._nvml.NVMLError, ValueError) as err:
                        self._to_sampling(gpu, self.clock(), reason=f"energy counter failed mid-run ({err})")
                        if gpu.method == SAMPLING:
                            self._maybe_start_thread()
                out[gpu.uuid] = gpu.energy_j
            return out

    def resolution_mark(self) -> dict[str, int]:
        """Power samples taken so far per UUID (take at a window's start for :meth:`resolution_notes`)."""
        return {g.uuid: g.samples for g in self._gpus}

    def resolution_notes(self, mark: dict[str, int] | None, duration_s: float) -> list[str]:
        """How finely a window of ``duration_s`` that began at ``mark`` is resolved, per GPU."""
        out: list[str] = []
        for gpu in self._gpus:
            if gpu.method == COUNTER and duration_s < COUNTER_REFRESH_S:
                out.append(
                    f"{gpu.uuid}: the {duration_s * 1e3:.0f} ms window is shorter than the NVML energy counter's"
                    f" ~{COUNTER_REFRESH_S * 1e3:.0f} ms refresh; its GPU energy is resolved to about one refresh"
                )
            elif gpu.method == SAMPLING:
                samples = gpu.samples - (mark or {}).get(gpu.uuid, 0)
                coverage = samples * self.sampling_interval_s / duration_s if duration_s > 0 else 0.0
                out.append(
                    f"{gpu.uuid}: power sampled, {samples} samples x {self.sampling_interval_s:g} s ="
                    f" {coverage:.0%} coverage of the {duration_s:.3g} s window"
                )
        return out

    @override
    def counter_baselines_mj(self) -> dict[str, int]:
        """Counter value at :meth:`start` per UUID (for the checkpoint; informational)."""
        return {g.uuid: g.counter_base_mj for g in self._gpus if COUNTER in g.energy_by_method}

    def components(self) -> list[ComponentEnergy]:
        """One entry per device and method used (a mid-run fallback yields two)."""
        if self._unavailable is not None:
            label = ",".join(str(i) for i in self.device_indices) or "?"
            return [
                ComponentEnergy(
                    "gpu",
                    f"cuda:{label}",
                    0.0,
                    NONE,
                    METHODS[NONE][0],
                    "partial",
                    [f"not measured: {self._unavailable}"],
                )
            ]
        out = []
        lock = self._lock or threading.Lock()
        with lock:
            for gpu in self._gpus:
                for method, e in gpu.energy_by_method.items():
                    out.append(
                        ComponentEnergy(
                            "gpu", gpu.uuid, float(e), method, METHODS[method][0], gpu.status, list(gpu.notes)
                        )
                    )
        return out

    @property
    @override
    def notes(self) -> list[str]:
        return list(self._faults.notes)
