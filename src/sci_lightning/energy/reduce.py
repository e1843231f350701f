"""Combine per-rank and per-run-part energy records into job totals (pure functions).

A *record* is a plain dict (picklable, JSON-able) describing one component's energy:
``{"component", "device", "host", "method", "quality", "status", "notes", "energy_j"}``.

Two kinds of figures need different treatment when ranks are combined:

* **device-scoped** (NVML, RAPL): the figure belongs to a physical device that several
  ranks may see (two ranks sharing one GPU, or all ranks of a host reading the same
  RAPL package). Counted once per device id (the GPU UUID, ``host/package-N``): the
  largest reading is kept, as the ranks' windows nearly coincide.
* **process-scoped** estimates (CPU time, RSS): each rank measured only its own process,
  so these are summed per host and method, giving one entry per host.
"""

from __future__ import annotations

from typing import Any, Iterable

from sci_lightning.energy._common import add_note
from sci_lightning.energy.base import METHODS, ComponentEnergy

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
        r["component"], r["device"], float(r["energy_j"]), method, quality, r.get("status", "ok"), list(r.get("notes", []))
    )


def _worst(a: str, b: str) -> str:
    return a if a != "ok" else b


def _sorted(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(records, key=lambda r: (_ORDER.get(r["component"], 9), r["device"], r["method"]))


def reduce_ranks(per_rank: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Job-level records from every rank's records of the same run part.

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


def merge_parts(*parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sum job-level records of consecutive run parts (e.g. before and after a resume)."""
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for records in parts:
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
