"""Combine per-rank energy records, and the segments of a resumed window, into job totals (pure functions).

A *record* is a plain dict (picklable, JSON-able) describing one component's energy:
``{"component", "device", "host", "method", "quality", "status", "notes", "energy_j"}``.

Two kinds of figures need different treatment when ranks are combined:

* **device-scoped** (NVML, RAPL): the figure belongs to a physical device that several
  ranks may see (two ranks sharing one GPU, or all ranks of a host reading the same
  RAPL package). Counted once per device id (the GPU UUID, ``host/package-N``): the
  largest reading is kept, as the ranks' windows nearly coincide.
* **process-scoped** estimates (CPU time, RSS): each rank measured only its own process,
  so these are summed per host and method, giving one entry per host.

So host-level figures come out once per host and GPUs once per UUID however many ranks
each host runs (verified with two hosts in separate UTS namespaces, tests/test_multihost.py).
The job's :attr:`~sci_lightning.energy.base.Measurement.hosts` lists every host.

:func:`reduce_measurements` applies this to whole :class:`~sci_lightning.energy.base.Measurement`
objects (one per rank); :func:`merge_measurements` adds the consecutive *segments* of one window.

A *segment* is what one process measured of a window: a window resumed from a checkpoint
(:meth:`~sci_lightning.energy.monitor.EnergyMonitor.load_state_dict`) is the sum of its
segments (:attr:`~sci_lightning.energy.base.Measurement.parts` counts them). For the ``fit``
window a segment is one *part* of the job (:mod:`sci_lightning.accounting`); the energy layer
knows only windows, hence its own word.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sci_lightning.energy._common import add_note
from sci_lightning.energy.base import METHODS, ComponentEnergy, Measurement
from sci_lightning.energy.timeline import Timeline, fit_rows, rows_to_intervals

__all__ = [
    "merge_measurements",
    "merge_segments",
    "reduce_measurements",
    "reduce_ranks",
]

#: Methods whose figure covers only the measuring process (summed across ranks per host).
PROCESS_SCOPED_METHODS = frozenset({"cpu_time_tdp_estimate", "ram_per_gb_estimate"})
_ORDER = {"gpu": 0, "cpu": 1, "ram": 2}


def to_record(c: ComponentEnergy, host: str) -> dict[str, Any]:
    """A component reading as a record (adds the measuring host)."""
    return {
        "component": c.component,
        "device": c.device,
        "host": host,
        "method": c.method,
        "quality": c.quality,
        "status": c.status,
        "notes": list(c.notes),
        "energy_j": float(c.energy_j),
    }


def to_component(r: dict[str, Any]) -> ComponentEnergy:
    method = r["method"]
    quality = r.get("quality") or METHODS.get(method, ("estimated", ""))[0]
    return ComponentEnergy(
        r["component"],
        r["device"],
        float(r["energy_j"]),
        method,
        quality,
        r.get("status", "ok"),
        list(r.get("notes", [])),
    )


def _worst(a: str, b: str) -> str:
    return a if a != "ok" else b


def _sorted(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(records, key=lambda r: (_ORDER.get(r["component"], 9), r["device"], r["method"]))


def reduce_ranks(per_rank: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Job-level records from every rank's records of the same window segment.

    Device-scoped figures are counted once per (component, device, method); process-scoped
    estimates are summed per (component, host, method) and reported with ``device = host``.
    """
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    counts: dict[tuple[str, str, str], int] = {}
    for records in per_rank:
        for r in records:
            process = r["method"] in PROCESS_SCOPED_METHODS
            dev = r.get("host", r["device"]) if process else r["device"]
            key = (r["component"], dev, r["method"])
            counts[key] = counts.get(key, 0) + 1
            cur = out.get(key)
            if cur is None:
                out[key] = {**r, "device": dev, "notes": list(r.get("notes", []))}
                continue
            if process:
                cur["energy_j"] += float(r["energy_j"])
            else:
                cur["energy_j"] = max(cur["energy_j"], float(r["energy_j"]))
            cur["status"] = _worst(cur["status"], r.get("status", "ok"))
            for n in r.get("notes", []):
                add_note(cur["notes"], n)
    for key, n in counts.items():
        if n > 1:
            what = "summed over" if key[2] in PROCESS_SCOPED_METHODS else "seen by"
            tail = "" if key[2] in PROCESS_SCOPED_METHODS else ", counted once"
            add_note(out[key]["notes"], f"{what} {n} processes{tail}")
    return _sorted(out.values())


def merge_segments(*segments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sum job-level records of consecutive segments of one window (e.g. before and after a resume)."""
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for records in segments:
        for r in records:
            key = (r["component"], r["device"], r["method"])
            cur = out.get(key)
            if cur is None:
                out[key] = {**r, "notes": list(r.get("notes", []))}
                continue
            cur["energy_j"] += float(r["energy_j"])
            cur["status"] = _worst(cur["status"], r.get("status", "ok"))
            for n in r.get("notes", []):
                add_note(cur["notes"], n)
    return _sorted(out.values())


def _rows(m: Measurement) -> list[list[float]]:
    return [[i.start.timestamp(), i.end.timestamp(), i.energy_j] for i in m.timeline]


def _union(lists: Iterable[list[str]]) -> list[str]:
    out: list[str] = []
    for notes in lists:
        for n in notes:
            add_note(out, n)
    return out


def _hosts(measurements: Iterable[Measurement]) -> list[str]:
    """Every host of the measurements, once each, sorted."""
    return sorted({h for m in measurements for h in m.all_hosts()})


def _baselines(measurements: Iterable[Measurement]) -> dict[str, int]:
    out: dict[str, int] = {}
    for m in measurements:
        out.update(m.counter_baselines_mj)
    return out


def reduce_measurements(per_rank: list[Measurement]) -> Measurement:
    """The job's measurement from every rank's measurement of the same window.

    Components are combined by :func:`reduce_ranks` (shared devices once, per-process
    estimates summed per host), images are summed, steps and duration are the longest
    rank's, and the timeline is rank 0's shape scaled to the job total.
    """
    first = per_rank[0]
    records = reduce_ranks([[to_record(c, m.host) for c in m.components] for m in per_rank])
    components = [to_component(r) for r in records]
    energy_j = sum(c.energy_j for c in components)
    start_ts, end_ts = first.started_at.timestamp(), first.ended_at.timestamp()
    warnings = _union(m.warnings for m in per_rank)
    if len(per_rank) > 1:
        add_note(warnings, "timeline shape from rank 0's devices, scaled to the job total")
    return Measurement(
        name=first.name,
        components=components,
        duration_s=max(m.duration_s for m in per_rank),
        started_at=min(m.started_at for m in per_rank),
        ended_at=max(m.ended_at for m in per_rank),
        timeline=rows_to_intervals(fit_rows(_rows(first), energy_j, start_ts, end_ts)),
        warnings=warnings,
        steps=max(m.steps for m in per_rank),
        images=sum(m.images for m in per_rank),
        parts=max(m.parts for m in per_rank),
        host=first.host,
        hosts=_hosts(per_rank),
        counter_baselines_mj=_baselines(per_rank),
        resolution=_union(m.resolution for m in per_rank),
        idle_power_w={k: v for m in per_rank for k, v in m.idle_power_w.items()},
    )


def merge_measurements(*segments: Measurement, max_intervals: int = 512) -> Measurement:
    """Consecutive segments of one window (e.g. before and after a resume) as one measurement."""
    first, last = segments[0], segments[-1]
    records = merge_segments(*([to_record(c, m.host) for c in m.components] for m in segments))
    timeline = Timeline(max_intervals)
    for m in segments:
        timeline.extend(_rows(m))
    return Measurement(
        name=last.name,
        components=[to_component(r) for r in records],
        duration_s=sum(m.duration_s for m in segments),
        started_at=first.started_at,
        ended_at=last.ended_at,
        timeline=timeline.intervals(),
        warnings=_union(m.warnings for m in segments),
        steps=sum(m.steps for m in segments),
        images=sum(m.images for m in segments),
        parts=sum(m.parts for m in segments),
        host=last.host,
        hosts=_hosts(segments),
        counter_baselines_mj=_baselines(segments),
        resolution=_union(m.resolution for m in segments),
        idle_power_w={k: v for m in segments for k, v in m.idle_power_w.items()},
    )
