"""Data preparation as its own measured activity (SCI for AI §7.2: inside the Provider boundary).

A cache build (the decode cache of :mod:`sci_lightning.data.fast`: every JPEG decoded
once; the feature cache of :mod:`sci_lightning.lightning.features`: the frozen backbone
run once) is measured as an :class:`~sci_lightning.energy.monitor.EnergyMonitor` window
and kept as a :class:`PreparationFigures` record:

- beside the cache, in ``<cache>.energy.json`` (:func:`write_build_record`), so a run that
  *reuses* the cache can still disclose what building it cost;
- in the run folder, in ``preparation.json`` (:func:`write_preparation`), one record per
  cache the run used, with ``reused`` true when the run found the cache already built.

Each build is attributed once: readers (the campaign roll-up, the publish exports) count
a record's energy only the first time they see its ``build_id`` and disclose the others
as amortised (:func:`attribute_once`).
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sci_lightning.fileio import atomic_write_text
from sci_lightning.sci.codec import FormatError, decode, encode, report_field
from sci_lightning.settings import EnergyConfig, coerce
from sci_lightning.warn_once import WarnOnce

if TYPE_CHECKING:
    from sci_lightning.energy.base import Measurement
    from sci_lightning.energy.monitor import EnergyMonitor

__all__ = [
    "PREPARATION_FILE",
    "PreparationFigures",
    "attribute_once",
    "measure_build",
    "read_build_record",
    "read_preparation",
    "record_path",
    "write_preparation",
]

log = logging.getLogger(__name__)
_ONCE = WarnOnce()  # a monitor fault of the same build kind warns once per process

PREPARATION_FILE = "preparation.json"
_J_PER_KWH = 3.6e6


@dataclass(kw_only=True)
class PreparationFigures:
    """One data-preparation activity: a cache build measured as an EnergyMonitor window.

    ``energy_kwh`` is the build's IT energy x ``pue`` (facility energy); ``reused`` says
    the run found the cache built earlier (its energy then belongs to the build, counted once).
    """

    activity: str = report_field(doc="decode_cache | feature_cache")
    build_id: str = report_field(doc="identifies one build; the same id seen twice is counted once")
    energy_kwh: float = report_field(doc="facility energy of the build (IT x PUE), kWh")
    it_energy_kwh: float = report_field(doc="IT energy of the build, kWh")
    pue: float = report_field(1.0)
    duration_s: float = report_field(doc="wall time of the build, s")
    items: int = report_field(0, doc="images decoded / feature rows extracted")
    started_at: datetime | None = None
    ended_at: datetime | None = None
    quality: str | None = report_field(None, doc="measured | estimated | mixed")
    method: str | None = report_field(None, doc="how each component was metered")
    cache: str | None = report_field(None, doc="the cache file the build wrote")
    reused: bool = report_field(False, doc="the run reused a cache built before (amortised)")
    within_training: bool = report_field(
        False,
        doc="the build ran inside the training window: its energy is already part of the training E "
        "(shown as its own activity, not added again)",
    )
    notes: list[str] = report_field(factory=list)

    def to_dict(self) -> dict[str, Any]:
        return encode(self)


def _quality(measurement: Measurement) -> str | None:
    qualities = {c.quality for c in measurement.components}
    return qualities.pop() if len(qualities) == 1 else ("mixed" if qualities else None)


def build_record(
    activity: str,
    measurement: Measurement,
    *,
    items: int,
    cache: str | os.PathLike[str] | None,
    pue: float = 1.0,
) -> PreparationFigures:
    """The record of one build from its EnergyMonitor window's measurement."""
    it_kwh = measurement.energy_j / _J_PER_KWH
    methods = sorted({f"{c.component} ({c.device}): {c.method}, {c.quality}" for c in measurement.components})
    return PreparationFigures(
        activity=activity,
        build_id=uuid.uuid4().hex,
        energy_kwh=it_kwh * pue,
        it_energy_kwh=it_kwh,
        pue=pue,
        duration_s=measurement.duration_s,
        items=int(items),
        started_at=measurement.started_at,
        ended_at=measurement.ended_at,
        quality=_quality(measurement),
        method="; ".join(methods) or None,
        cache=None if cache is None else str(cache),
        notes=list(measurement.warnings),
    )


def _default_monitor(energy: EnergyConfig | Mapping[str, Any] | None) -> EnergyMonitor:
    from sci_lightning.energy.monitor import EnergyMonitor

    return EnergyMonitor(config=energy, sync=lambda: None)  # host work: CPU and RAM meters, no GPU sync


def _estimate_monitor(energy: Any) -> EnergyMonitor:
    """The fallback: this process's CPU-time and RAM estimates (no GPU, no RAPL)."""
    from sci_lightning.energy.monitor import EnergyMonitor

    cfg = replace(coerce(EnergyConfig, energy, "energy"), gpu="off", cpu="estimate", ram="estimate")
    return EnergyMonitor(config=cfg, sync=lambda: None)


def _open_window(
    activity: str, energy: Any, factory: Callable[[Any], EnergyMonitor]
) -> tuple[EnergyMonitor | None, str | None]:
    """The build's monitor with its window open: the configured one, else (it failed to start,
    warned once) the estimate; and the note saying so. ``None``: the estimate failed too."""
    from sci_lightning.energy import EnergyMeterWarning

    errors: list[str] = []
    monitor = None
    for make in (factory, _estimate_monitor):
        try:
            monitor = make(energy)
            monitor.begin_window(activity)
            break
        except Exception as e:  # measurement must not cost the build
            if monitor is not None:
                _close(monitor)
            monitor = None
            errors.append(repr(e))
    if not errors:
        return monitor, None
    fault = f"The {activity} build's energy monitor failed to start ({errors[0]}); " + (
        "its energy is the CPU-time and RAM estimate of this process instead"
        if monitor is not None
        else f"so did the CPU-time estimate ({errors[-1]}): the build runs unmeasured"
    )
    _ONCE.warn((activity, fault), f"{fault}.", EnergyMeterWarning, stacklevel=3)
    return monitor, fault


def _close(monitor: EnergyMonitor) -> None:
    try:
        monitor.close()
    except Exception:  # pragma: no cover - closing is best effort
        pass


def measure_build(
    activity: str,
    build: Callable[[], None],
    *,
    items: int | Callable[[], int],
    cache: str | os.PathLike[str] | None,
    energy: EnergyConfig | Mapping[str, Any] | None = None,
    pue: float = 1.0,
    monitor_factory: Callable[[Any], EnergyMonitor] | None = None,
    within_training: bool = False,
) -> PreparationFigures | None:
    """Run ``build`` inside an EnergyMonitor window and write its record beside ``cache``
    (when a cache file is given). ``items`` may be a callable, read after the build.

    ``energy``: the energy settings (an ``EnergyConfig`` or mapping; default settings when
    ``None``), given to ``monitor_factory`` (default: an :class:`EnergyMonitor` of this
    process's meters, no GPU: a cache build is host work). A fault in measuring never
    stops the build: a monitor that fails to start is replaced by the CPU-time and RAM
    estimate, warned once and noted in the record; if that fails too, or the window cannot
    be read, the build runs unmeasured (``None`` returned). With ``energy.enabled`` false
    nothing is measured.
    """
    if not coerce(EnergyConfig, energy, "energy").enabled:
        build()
        return None
    monitor, fault = _open_window(activity, energy, monitor_factory or _default_monitor)
    if monitor is None:
        build()
        return None
    try:
        build()
    finally:
        try:
            measurement = monitor.end_window(activity)
        except Exception as e:
            log.warning("The %s build's energy could not be read (%s); it is not recorded.", activity, e)
            measurement = None
        _close(monitor)
    if measurement is None:
        return None
    record = build_record(
        activity, measurement, items=items() if callable(items) else items, cache=cache, pue=pue
    )
    record.within_training = within_training
    if fault is not None:
        record.notes.insert(0, fault)
    try:
        if cache is not None:
            write_build_record(cache, record)
    except OSError as e:
        log.warning("The %s build record could not be written beside %s (%s).", activity, cache, e)
    return record


def record_path(cache: str | os.PathLike[str]) -> Path:
    """Where the build record of ``cache`` lives: ``<cache>.energy.json``."""
    cache = Path(cache)
    return cache.with_name(cache.name + ".energy.json")


def write_build_record(cache: str | os.PathLike[str], record: PreparationFigures) -> Path:
    """Write ``record`` beside ``cache`` (atomically); returns the path written."""
    path = record_path(cache)
    atomic_write_text(path, json.dumps(record.to_dict(), indent=2) + "\n")
    return path


def read_build_record(cache: str | os.PathLike[str]) -> PreparationFigures | None:
    """The build record beside ``cache``, marked ``reused``; ``None`` when there is none or it is unreadable."""
    path = record_path(cache)
    try:
        record = decode(PreparationFigures, json.loads(path.read_text(encoding="utf-8")), "", str(path))
    except (OSError, ValueError, FormatError):
        return None
    return replace(record, reused=True)


def write_preparation(run_dir: str | os.PathLike[str], records: Iterable[PreparationFigures]) -> Path | None:
    """Write the run's ``preparation.json`` (nothing when there are no records)."""
    records = list(records)
    if not records:
        return None
    path = Path(run_dir) / PREPARATION_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        path, json.dumps({"schema_version": 1, "activities": [r.to_dict() for r in records]}, indent=2) + "\n"
    )
    return path


def read_preparation(run_dir: str | os.PathLike[str]) -> list[PreparationFigures]:
    """The records of ``run_dir/preparation.json`` (``[]`` when the file is absent).

    Raises:
        FormatError: the file is not JSON or a record is malformed (named in the message).
    """
    path = Path(run_dir) / PREPARATION_FILE
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise FormatError(str(path), "", f"is not valid JSON ({e})") from None
    raw = data.get("activities") if isinstance(data, dict) else None
    return decode(list[PreparationFigures], raw if raw is not None else [], "activities", str(path))


def attribute_once(records: Iterable[PreparationFigures]) -> Iterator[tuple[PreparationFigures, bool]]:
    """Each record with whether its energy counts here (the first time its ``build_id`` is seen)."""
    seen: set[str] = set()
    for record in records:
        counted = record.build_id not in seen
        seen.add(record.build_id)
        yield record, counted
