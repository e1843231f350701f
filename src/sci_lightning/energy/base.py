"""Energy meter interface and the result types shared by the callback and the SCI report.

Every figure carries how it was obtained: ``quality`` is ``"measured"`` (read from a
hardware counter or integrated from hardware power samples) or ``"estimated"``
(derived from a model such as CPU time x power-per-core), and ``method`` names the
exact technique (see ``METHODS``).
"""

from __future__ import annotations

import abc
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

Quality = Literal["measured", "estimated"]

#: Known measurement methods -> (quality, human description).
METHODS: dict[str, tuple[Quality, str]] = {
    "nvml_energy_counter": ("measured", "NVML total-energy counter (nvmlDeviceGetTotalEnergyConsumption), read at step boundaries"),
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


@dataclass
class EnergyResult:
    """What the energy side of EnergyCarbonCallback hands to the SCI report (energy.json)."""

    started_at: datetime
    ended_at: datetime
    duration_s: float
    components: list[ComponentEnergy]
    timeline: list[EnergyInterval]  # bounded: adjacent intervals are merged as the run grows
    pue: float = 1.0
    steps: int = 0
    epochs: int = 0
    images: int = 0
    world_size: int = 1
    warnings: list[str] = field(default_factory=list)
    schema_version: int = 1

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
        d["timeline"] = [
            {"start": i.start.isoformat(), "end": i.end.isoformat(), "energy_j": i.energy_j}
            for i in self.timeline
        ]
        d["it_energy_j"] = self.it_energy_j
        d["energy_j"] = self.energy_j
        d["energy_kwh"] = self.energy_kwh
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "EnergyResult":
        parse = datetime.fromisoformat
        return cls(
            started_at=parse(d["started_at"]),
            ended_at=parse(d["ended_at"]),
            duration_s=float(d["duration_s"]),
            components=[ComponentEnergy(**c) for c in d["components"]],
            timeline=[EnergyInterval(parse(i["start"]), parse(i["end"]), float(i["energy_j"])) for i in d["timeline"]],
            pue=float(d.get("pue", 1.0)),
            steps=int(d.get("steps", 0)),
            epochs=int(d.get("epochs", 0)),
            images=int(d.get("images", 0)),
            world_size=int(d.get("world_size", 1)),
            warnings=list(d.get("warnings", [])),
            schema_version=int(d.get("schema_version", 1)),
        )


class EnergyMeter(abc.ABC):
    """A source of cumulative energy for one component.

    Lifecycle: ``start()`` once, ``read_j()`` as often as wanted (cheap, O(1)), ``stop()``
    once. ``read_j`` returns joules accumulated since ``start()``, per device. A meter
    that fails mid-run must not raise from ``read_j``: it falls back, warns once and
    records the reason in ``notes`` / sets ``status = "partial"``.
    """

    component: str = "?"

    @abc.abstractmethod
    def start(self) -> None: ...

    @abc.abstractmethod
    def read_j(self) -> dict[str, float]:
        """Cumulative joules since start, keyed by device id."""

    def stop(self) -> None:  # pragma: no cover - optional
        pass

    @abc.abstractmethod
    def components(self) -> list[ComponentEnergy]:
        """The per-device result so far (method, quality, status, notes filled in)."""
