"""Energy meter interface and the result types shared by the callback and the SCI report.

Every figure carries how it was obtained: ``quality`` is ``"measured"`` (read from a
hardware counter or integrated from hardware power samples) or ``"estimated"``
(derived from a model such as CPU time x power-per-core), and ``method`` names the
exact technique (see ``METHODS``).
"""

from __future__ import annotations

import abc
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

__all__ = [
    "METHODS",
    "ComponentEnergy",
    "EnergyInterval",
    "EnergyMeter",
    "EnergyResult",
    "Measurement",
    "utcnow",
]

Quality = Literal["measured", "estimated"]

#: Known measurement methods -> (quality, human description).
METHODS: dict[str, tuple[Quality, str]] = {
    "nvml_energy_counter": (
        "measured",
        "NVML total-energy counter (nvmlDeviceGetTotalEnergyConsumption), read at step boundaries",
    ),
    "nvml_power_sampling": ("measured", "NVML power samples integrated with the trapezoid rule"),
    "rapl": ("measured", "Intel/AMD RAPL energy counters via /sys/class/powercap"),
    "cpu_time_tdp_estimate": ("estimated", "process CPU time x (TDP / cores)"),
    "ram_per_gb_estimate": ("estimated", "resident memory (GB) x watts per GB x wall time"),
    "none": ("estimated", "no usable meter; contributes 0 J"),
}


def utcnow() -> datetime:
    """Timezone-aware current UTC time (all times in this project are aware UTC)."""
    return datetime.now(timezone.utc)


@dataclass
class ComponentEnergy:
    """Energy of one component on one device over the whole job (PUE not applied)."""

    component: str  # "gpu" | "cpu" | "ram"
    device: str  # GPU UUID, or "<hostname>" / "<hostname>/package-0" for host-level meters
    energy_j: float
    method: str  # a key of METHODS
    quality: Quality
    status: str = "ok"  # "ok" | "partial" (a fallback happened mid-run)
    notes: list[str] = field(default_factory=list)

    @property
    def energy_kwh(self) -> float:
        return self.energy_j / 3.6e6


@dataclass
class EnergyInterval:
    """IT energy (all components, PUE not applied) drawn between two UTC instants."""

    start: datetime
    end: datetime
    energy_j: float

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "energy_j": self.energy_j}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EnergyInterval:
        return cls(datetime.fromisoformat(d["start"]), datetime.fromisoformat(d["end"]), float(d["energy_j"]))


@dataclass
class Measurement:
    """The energy of one named measurement window (see :class:`~sci_lightning.energy.monitor.EnergyMonitor`).

    IT energy only (no PUE). ``components`` has one entry per component, device and
    method; ``timeline`` sums to :attr:`energy_j`; ``warnings`` lists every fault the
    monitor and its meters recorded up to the window's end. A window resumed from a
    checkpoint is the sum of its ``parts``.
    """

    name: str
    components: list[ComponentEnergy]
    duration_s: float
    started_at: datetime
    ended_at: datetime
    timeline: list[EnergyInterval]
    warnings: list[str] = field(default_factory=list)
    steps: int = 0  # batches recorded in the window (EnergyMonitor.record_step calls)
    images: int = 0  # samples recorded in the window
    parts: int = 1
    host: str = ""  # the measuring host (process-scoped estimates are summed per host)
    hosts: list[str] = field(default_factory=list)  # every host the window was measured on (job totals)
    counter_baselines_mj: dict[str, int] = field(default_factory=dict)  # informational, per GPU UUID
    # how finely the figures are resolved (read rate, short windows, power-sample coverage)
    resolution: list[str] = field(default_factory=list)
    # GPU idle power measured before the first window, per device (disclosed, never subtracted)
    idle_power_w: dict[str, float] = field(default_factory=dict)

    @property
    def energy_j(self) -> float:
        return sum(c.energy_j for c in self.components)

    def energy_by_component_j(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for c in self.components:
            out[c.component] = out.get(c.component, 0.0) + c.energy_j
        return out

    def to_result(
        self,
        *,
        pue: float = 1.0,
        steps: int | None = None,
        epochs: float | None = 0.0,
        world_size: int = 1,
        batches: int | None = None,
        images: int | None = None,
    ) -> EnergyResult:
        """This window as the :class:`EnergyResult` the SCI report takes (``steps``: optimizer
        steps; ``batches`` and ``images`` default to the window's recorded batches and samples)."""
        return EnergyResult(
            started_at=self.started_at,
            ended_at=self.ended_at,
            duration_s=self.duration_s,
            components=list(self.components),
            timeline=list(self.timeline),
            pue=pue,
            steps=self.steps if steps is None else steps,
            epochs=epochs,
            images=self.images if images is None else images,
            batches=self.steps if batches is None else batches,
            world_size=world_size,
            warnings=list(self.warnings),
            resolution=list(self.resolution),
            idle_power_w=dict(self.idle_power_w),
            hosts=self.all_hosts(),
        )

    def all_hosts(self) -> list[str]:
        """The hosts measured: :attr:`hosts` when reduced over ranks, else this window's own host."""
        return list(self.hosts) or ([self.host] if self.host else [])

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-able data (checkpoints, ``all_gather_object``)."""
        d = asdict(self)
        d["started_at"], d["ended_at"] = self.started_at.isoformat(), self.ended_at.isoformat()
        d["timeline"] = [i.to_dict() for i in self.timeline]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Measurement:
        return cls(
            name=str(d["name"]),
            components=[ComponentEnergy(**c) for c in d["components"]],
            duration_s=float(d["duration_s"]),
            started_at=datetime.fromisoformat(d["started_at"]),
            ended_at=datetime.fromisoformat(d["ended_at"]),
            timeline=[EnergyInterval.from_dict(i) for i in d["timeline"]],
            warnings=list(d.get("warnings", [])),
            steps=int(d.get("steps", 0)),
            images=int(d.get("images", 0)),
            parts=int(d.get("parts", 1)),
            host=str(d.get("host", "")),
            hosts=[str(h) for h in d.get("hosts", [])],
            counter_baselines_mj={str(k): int(v) for k, v in d.get("counter_baselines_mj", {}).items()},
            resolution=list(d.get("resolution", [])),
            idle_power_w={str(k): float(v) for k, v in d.get("idle_power_w", {}).items()},
        )


@dataclass
class EnergyResult:
    """What the energy side of EnergyCarbonCallback hands to the SCI report (energy.json).

    The counts follow :mod:`sci_lightning.accounting`: ``steps`` are optimizer steps (also
    written as ``optimizer_steps``), ``batches`` training batches, ``images`` samples (also
    written as ``samples``), ``epochs`` fractional epochs (``None``: unknown, iterable data).
    """

    started_at: datetime
    ended_at: datetime
    duration_s: float
    components: list[ComponentEnergy]
    timeline: list[EnergyInterval]  # bounded: adjacent intervals are merged as the run grows
    pue: float = 1.0
    steps: int = 0  # optimizer steps
    epochs: float | None = 0.0  # fractional; None: unknown
    images: int = 0  # samples
    world_size: int = 1
    warnings: list[str] = field(default_factory=list)
    schema_version: int = 1
    resolution: list[str] = field(default_factory=list)  # see Measurement.resolution
    idle_power_w: dict[str, float] = field(default_factory=dict)  # see Measurement.idle_power_w
    hosts: list[str] = field(default_factory=list)  # the hosts the job ran on (each counted once)
    batches: int = 0  # training batches

    @property
    def optimizer_steps(self) -> int:
        """Optimizer steps (the same figure as ``steps``, named for what it counts)."""
        return self.steps

    @property
    def samples(self) -> int:
        """Training samples (the same figure as ``images``, named for what it counts)."""
        return self.images

    @property
    def it_energy_j(self) -> float:
        return sum(c.energy_j for c in self.components)

    @property
    def energy_j(self) -> float:
        """Facility energy: IT energy x PUE."""
        return self.it_energy_j * self.pue

    @property
    def energy_kwh(self) -> float:
        return self.energy_j / 3.6e6

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("started_at", "ended_at"):
            d[k] = getattr(self, k).isoformat()
        d["timeline"] = [i.to_dict() for i in self.timeline]
        d["it_energy_j"] = self.it_energy_j
        d["energy_j"] = self.energy_j
        d["energy_kwh"] = self.energy_kwh
        d["optimizer_steps"], d["samples"] = self.steps, self.images
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EnergyResult:
        parse = datetime.fromisoformat
        return cls(
            started_at=parse(d["started_at"]),
            ended_at=parse(d["ended_at"]),
            duration_s=float(d["duration_s"]),
            components=[ComponentEnergy(**c) for c in d["components"]],
            timeline=[EnergyInterval.from_dict(i) for i in d["timeline"]],
            pue=float(d.get("pue", 1.0)),
            steps=int(d.get("optimizer_steps", d.get("steps", 0))),
            epochs=None if d.get("epochs", 0) is None else float(d.get("epochs", 0)),
            images=int(d.get("samples", d.get("images", 0))),
            world_size=int(d.get("world_size", 1)),
            warnings=list(d.get("warnings", [])),
            schema_version=int(d.get("schema_version", 1)),
            resolution=list(d.get("resolution", [])),
            idle_power_w={str(k): float(v) for k, v in d.get("idle_power_w", {}).items()},
            hosts=[str(h) for h in d.get("hosts", [])],
            batches=int(d.get("batches", 0)),
        )


class EnergyMeter(abc.ABC):
    """A source of cumulative energy for one component.

    Lifecycle: ``start()`` once, ``read_j()`` as often as wanted (cheap, O(1)), ``stop()``
    once. ``read_j`` returns joules accumulated since ``start()``, per device. A meter
    that fails mid-run must not raise from ``read_j``: it falls back, warns once and
    records the reason in ``notes`` / sets ``status = "partial"``.

    Optional features have no-op defaults, so every meter can be driven alike:
    :meth:`exclude_pids` (DDP ranks that are this process's children),
    :meth:`counter_baselines_mj` (hardware counter values at ``start()``) and
    :attr:`notes` (fault reasons for the run's warnings).
    """

    component: str = "?"

    @abc.abstractmethod
    def start(self) -> None: ...

    @abc.abstractmethod
    def read_j(self) -> dict[str, float]:
        """Cumulative joules since start, keyed by device id."""

    def stop(self) -> None:  # pragma: no cover - optional
        """Release what ``start()`` took (threads, handles); the default meter holds nothing."""
        return None

    def exclude_pids(self, pids: Iterable[int]) -> None:
        """Leave these processes out of a per-process figure (call before ``start()``).

        The default meter measures whole devices, so there is nothing to leave out."""
        return None

    def counter_baselines_mj(self) -> dict[str, int]:
        """Hardware energy-counter values at ``start()`` per device, in mJ (informational)."""
        return {}

    @property
    def notes(self) -> list[str]:
        """Reasons of the faults this meter recorded (fallbacks, lost devices)."""
        return []

    @abc.abstractmethod
    def components(self) -> list[ComponentEnergy]:
        """The per-device result so far (method, quality, status, notes filled in)."""
