"""The publishable run report: ``sci_report.json``, ``sci_report.md`` and ``impact.yml``.

``write_run_report`` writes three files into the run folder, each atomically (a temporary
file in the same folder, then ``os.replace``), so a reader never sees a half-written
report and an existing report is replaced whole:

- ``sci_report.json`` (``schema_version`` 1): machine-readable figures, read by the
  comparison report. Stable keys: ``model``, ``run_name``, ``val_acc``, ``duration_s``,
  ``energy_kwh.total``, ``cost_usd``, ``sci.value``, ``sci.unit``, ``operational_g``,
  ``carbon_aware.saving_g`` / ``carbon_aware.saving_pct``.
- ``sci_report.md``: the disclosure the SCI specification asks for (software boundary,
  functional unit, methodology, data sources and quality, result, cost).
- ``impact.yml``: a GSF Impact Framework 1.x manifest whose inputs (one observation per
  energy-timeline interval) and builtin-plugin pipeline reproduce the same SCI with
  ``if-run --manifest impact.yml``.

Only what is passed in is written, and as a last line of defence every value of an
environment variable whose name contains TOKEN, PASSWORD, SECRET or KEY is redacted.
``log_to_logger`` sends the headline scalars (and, for TensorBoard, a text summary) to
any Lightning logger.
"""

from __future__ import annotations

import json
import math
import os
import re

import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from sci_lightning.energy.base import METHODS, EnergyResult
from sci_lightning.fileio import atomic_write_text
from sci_lightning.redaction import REDACTED, redact, scrub, secret_values
from sci_lightning.sci import SECONDS_PER_YEAR, SciResult

SCHEMA_VERSION = 1
JSON_NAME = "sci_report.json"
MD_NAME = "sci_report.md"
MANIFEST_NAME = "impact.yml"

DEFAULT_BOUNDARY = (
    "One training job: the model's training and validation loop (data loading, forward and "
    "backward passes, optimizer steps, evaluation) on the machine(s) that ran it. Included: "
    "the energy of the components metered by sci-lightning (GPU, CPU package, RAM) scaled by "
    "the configured PUE for facility overhead (cooling, power delivery), and, when configured, "
    "the embodied emissions of the hardware reserved for the job's duration. Excluded: dataset "
    "download and preparation, idle time before/after the job, networking and storage "
    "equipment, the developer's workstation, and inference after training."
)


# ------------------------------------------------------------------ secrets


# ------------------------------------------------------------------ writing


def _plain(o: Any) -> Any:
    """JSON/YAML-safe plain data: datetimes as UTC ISO-8601, non-finite floats as None."""
    if isinstance(o, datetime):
        if o.tzinfo is not None:
            o = o.astimezone(timezone.utc)
        return o.isoformat()
    if isinstance(o, Path):
        return str(o)
    if type(o).__name__ in ("DictConfig", "ListConfig"):  # OmegaConf containers from Hydra
        from omegaconf import OmegaConf

        return _plain(OmegaConf.to_container(o, resolve=True))
    if isinstance(o, bool) or o is None or isinstance(o, (int, str)):
        return o
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {str(k): _plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple, set)):
        return [_plain(v) for v in o]
    if hasattr(o, "item"):  # numpy / torch scalars
        try:
            return _plain(o.item())
        except Exception:  # pragma: no cover - defensive
            pass
    if hasattr(o, "to_dict"):
        return _plain(o.to_dict())
    return str(o)


# ------------------------------------------------------------------ json


def _credits_electricity_maps(result: SciResult) -> bool:
    texts = [result.intensity_source, *result.intensity_notes,
             *(str(f.get("provider", "")) + " " + str(f.get("replaced_by", "")) for f in result.fallbacks)]
    return any("electricitymaps" in re.sub(r"[^a-z]", "", t.lower()) for t in texts)


def build_report(result: SciResult, energy: EnergyResult, meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``sci_report.json`` content as a dict (not yet scrubbed)."""
    meta = dict(meta or {})
    components = [
        {
            "component": c.component,
            "device": c.device,
            "energy_kwh": c.energy_kwh,
            "method": c.method,
            "method_description": METHODS.get(c.method, (c.quality, "unknown method"))[1],
            "quality": c.quality,
            "status": c.status,
            "notes": list(c.notes),
        }
        for c in energy.components
    ]
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "model": meta.get("model"),
        "run_name": meta.get("run_name"),
        "functional_unit": result.functional_unit,
        "sci": {"value": result.sci, "unit": result.sci_unit},
        "sci_per": dict(result.sci_per),
        "functional_unit_counts": dict(result.r_counts),
        "sci_inputs": {
            "E_kwh": result.inputs.energy_kwh,
            "I_g_per_kwh": result.inputs.intensity_g_per_kwh,
            "M_g": result.inputs.embodied_g,
            "R": result.inputs.r,
            "formula": "SCI = ((E x I) + M) / R; E x I integrated over the energy timeline",
        },
        "energy_kwh": {
            "total": result.energy_kwh,
            "it_total": result.it_energy_kwh,
            "components": components,
        },
        "duration_s": result.duration_s,
        "intensity": {
            "mean_g_per_kwh": result.mean_intensity_g_per_kwh,
            "intervals": [i.to_dict() for i in result.intervals],
            "source": result.intensity_source,
            "region": result.intensity_region,
            "signal_type": result.signal_type,
            "kind": result.intensity_kind,
            "fallbacks": list(result.fallbacks),
            "notes": list(result.intensity_notes),
        },
        "operational_g": result.operational_g,
        "embodied_g": result.embodied_g,
        "carbon_g": result.carbon_g,
        "embodied": {
            "in_scope": result.embodied.in_scope,
            "te_kg": result.embodied.te_kg,
            "el_years": result.embodied.el_years,
            "rr": result.embodied.rr,
            "tor": result.embodied.tor,
            "tir_s": result.embodied.tir_s,
            "source": result.embodied.source,
            "statement": result.embodied.statement,
        },
        "pue": result.pue,
        "cost_usd": result.cost_usd,
        "price_per_hour_usd": result.price_per_hour_usd,
        "val_acc": meta.get("val_acc"),
        "val_acc_top5": meta.get("val_acc_top5"),
        "hardware": meta.get("hardware") or {},
        "settings": meta.get("settings") or {},
        "training": {"epochs": result.epochs, "steps": result.steps, "images": result.images,
                     "world_size": energy.world_size},
        "started_at": result.started_at,
        "ended_at": result.ended_at,
        "quality": {"energy": result.energy_quality, "intensity": result.intensity_kind},
        "boundary": meta.get("boundary") or DEFAULT_BOUNDARY,
        "warnings": [*energy.warnings, *result.notes],
        "credits": (["Carbon-intensity data: Electricity Maps (https://www.electricitymaps.com)"]
                    if _credits_electricity_maps(result) else []),
        "generated_at": datetime.now(timezone.utc),
    }
    if meta.get("carbon_aware") is not None:
        report["carbon_aware"] = meta["carbon_aware"]
    return _plain(report)


# ------------------------------------------------------------------ markdown


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def render_markdown(report: Mapping[str, Any]) -> str:
    """The SCI disclosure (the specification's Report step) for one job, as Markdown."""
    r = report
    sci, ints, emb, en = r["sci"], r["intensity"], r["embodied"], r["energy_kwh"]
    title = " / ".join(str(x) for x in (r.get("model"), r.get("run_name")) if x) or "training job"
    unit_word = {"job": "one training job", "epoch": "one training epoch",
                 "1000_images": "1,000 training images"}[r["functional_unit"]]
    lines: list[str] = [
        f"# Software Carbon Intensity report: {title}",
        "",
        "Computed per the Green Software Foundation SCI specification v1.1 (ISO/IEC 21031:2024): "
        "SCI = ((E x I) + M) per R.",
        "",
        "## Result",
        "",
        f"**SCI = {_fmt(sci['value'], 6)} {sci['unit']}**",
        "",
        "| Term | Value | How obtained |",
        "|---|---|---|",
        f"| E, energy (IT x PUE) | {_fmt(en['total'], 6)} kWh | {r['quality']['energy']} (IT {_fmt(en['it_total'], 6)} kWh x PUE {_fmt(r['pue'])}) |",
        f"| I, grid intensity (energy-weighted mean) | {_fmt(ints['mean_g_per_kwh'], 6)} gCO2e/kWh | {ints['kind']} {ints['signal_type']} from {ints['source']} ({ints['region']}) |",
        f"| E x I, operational emissions | {_fmt(r['operational_g'], 6)} gCO2e | integrated over {len(ints['intervals'])} interval(s) |",
        f"| M, embodied emissions | {_fmt(r['embodied_g'], 6)} gCO2e | {'in scope' if emb['in_scope'] else 'out of scope'} |",
        f"| R, functional unit | {_fmt(r['sci_inputs']['R'])} x {r['functional_unit'].replace('_', ' ')} | {unit_word} |",
        "",
        "SCI for every functional unit:",
        "",
        f"- per job: {_fmt(r['sci_per'].get('job'), 6)} gCO2e/job",
        f"- per epoch: {_fmt(r['sci_per'].get('epoch'), 6)} gCO2e/epoch ({r['training']['epochs']} epochs)",
        f"- per 1,000 images: {_fmt(r['sci_per'].get('1000_images'), 6)} gCO2e/1000 images ({r['training']['images']} images)",
        "",
    ]
    if r.get("val_acc") is not None:
        top5 = f", top-5 {_fmt(r.get('val_acc_top5'))}" if r.get("val_acc_top5") is not None else ""
        lines += [f"Validation accuracy: top-1 {_fmt(r['val_acc'])}{top5}.", ""]
    lines += [
        "## Software boundary",
        "",
        str(r["boundary"]),
        "",
        "## Functional unit",
        "",
        f"The headline R is **{unit_word}**. The job ran {r['training']['epochs']} epoch(s), "
        f"{r['training']['steps']} optimizer step(s) and {r['training']['images']} training image(s) "
        f"from {r['started_at']} to {r['ended_at']} (UTC, {_fmt(r['duration_s'], 6)} s).",
        "",
        "## Methodology",
        "",
        "### Energy (E)",
        "",
        f"E is the IT energy of the components below multiplied by the power usage effectiveness "
        f"(PUE = {_fmt(r['pue'])}) for facility overhead. Overall quality: **{r['quality']['energy']}**.",
        "",
        "| Component | Device | Energy (kWh, IT) | Quality | Method | Status |",
        "|---|---|---|---|---|---|",
    ]
    for c in en["components"]:
        lines.append(
            f"| {c['component']} | {c['device']} | {_fmt(c['energy_kwh'], 6)} | {c['quality']} | "
            f"{c['method']}: {c['method_description']} | {c['status']} |"
        )
    notes = [f"- {c['component']} ({c['device']}): {n}" for c in en["components"] for n in c["notes"]]
    if notes:
        lines += ["", "Component notes:", "", *notes]
    lines += [
        "",
        "### Carbon intensity (I)",
        "",
        f"Source: **{ints['source']}**, region {ints['region']}, signal type **{ints['signal_type']}**, "
        f"kind **{ints['kind']}**. The energy timeline ({len(ints['intervals'])} interval(s)) was "
        "multiplied interval by interval by the time-overlap-weighted intensity of that interval; "
        "I is the resulting energy-weighted mean (operational emissions / E). Seconds not covered by "
        "intensity data take the nearest point in time (or the configured default) and are listed "
        "under Warnings.",
        "",
    ]
    if ints["fallbacks"]:
        lines += ["Fallbacks used:", ""]
        lines += [f"- {f.get('provider', '?')} replaced by {f.get('replaced_by', '?')}: {f.get('reason', '')}"
                  for f in ints["fallbacks"]]
        lines.append("")
    lines += [
        "### Embodied emissions (M)",
        "",
        str(emb["statement"]),
        "",
    ]
    if emb["in_scope"]:
        lines += [
            f"TE = {_fmt(emb['te_kg'])} kgCO2e, EL = {_fmt(emb['el_years'])} years "
            f"({_fmt(emb['el_years'] * SECONDS_PER_YEAR, 6)} s), TiR = {_fmt(emb['tir_s'], 6)} s, "
            f"RR / ToR = {_fmt(emb['rr'])} / {_fmt(emb['tor'])}; M = {_fmt(r['embodied_g'], 6)} gCO2e.",
            "",
        ]
    lines += [
        "## Data sources and quality",
        "",
        f"- Energy: {r['quality']['energy']} ("
        + ", ".join(sorted({f"{c['component']}: {c['method']} ({c['quality']})" for c in en["components"]}) or ["no components"])
        + ").",
        f"- Carbon intensity: {ints['kind']} {ints['signal_type']} intensity from {ints['source']} ({ints['region']}).",
        f"- Embodied: {emb['source'] or ('not applicable (out of scope)' if not emb['in_scope'] else 'source not given')}.",
        f"- Cost: price of {_fmt(r['price_per_hour_usd'])} USD per hour (configured, not measured).",
    ]
    for n in ints.get("notes") or []:
        lines.append(f"- Intensity note: {n}")
    for credit in r.get("credits") or []:
        lines.append(f"- {credit}. Results using this data credit Electricity Maps.")
    lines += [
        "",
        "## Cost",
        "",
        f"{_fmt(r['duration_s'] / 3600.0, 4)} h x {_fmt(r['price_per_hour_usd'])} USD/h = "
        f"**{_fmt(r['cost_usd'], 4)} USD**.",
        "",
    ]
    ca = r.get("carbon_aware")
    if ca:
        lines += ["## Carbon-aware scheduling", ""]
        if ca.get("saving_g") is not None:
            lines.append(f"Running at the lowest-carbon time would have saved {_fmt(ca.get('saving_g'), 4)} gCO2e "
                         f"({_fmt(ca.get('saving_pct'), 3)} %).")
        for k, v in ca.items():
            if k not in ("saving_g", "saving_pct"):
                lines.append(f"- {k}: {_fmt(v) if not isinstance(v, (dict, list)) else json.dumps(v)}")
        lines.append("")
    lines += ["## Warnings", ""]
    lines += [f"- {w}" for w in r["warnings"]] or ["None."]
    lines += [
        "",
        "## Reproduce",
        "",
        f"`{MANIFEST_NAME}` is a GSF Impact Framework manifest with one observation per energy "
        f"interval; `if-run --manifest {MANIFEST_NAME}` recomputes this SCI (`aggregated.sci`).",
        "",
    ]
    return "\n".join(lines)


def summary_markdown(result: SciResult) -> str:
    """A short Markdown table of the SCI and its parts (for TensorBoard's text tab)."""
    return "\n".join([
        "| SCI term | value |",
        "|---|---|",
        f"| SCI | {result.sci:.6g} {result.sci_unit} |",
        f"| E (IT x PUE) | {result.energy_kwh:.6g} kWh ({result.energy_quality}) |",
        f"| I (energy-weighted) | {result.mean_intensity_g_per_kwh:.6g} gCO2e/kWh ({result.intensity_kind}, {result.intensity_source}) |",
        f"| operational | {result.operational_g:.6g} gCO2e |",
        f"| embodied | {result.embodied_g:.6g} gCO2e{'' if result.embodied.in_scope else ' (out of scope)'} |",
        f"| cost | {result.cost_usd:.4g} USD |",
    ])


# ------------------------------------------------------------------ impact framework


def _metadata(unit: str, description: str, time: str = "sum", component: str = "sum") -> dict[str, Any]:
    return {"unit": unit, "description": description,
            "aggregation-method": {"time": time, "component": component}}


def _iso_z(t: datetime) -> str:
    t = t.astimezone(timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _manifest_observations(result: SciResult) -> tuple[list[dict[str, Any]], list[str]]:
    """Timeline intervals as IF observations; consecutive intervals are merged until each
    lasts >= 1 s (the Sci builtin rejects shorter observations). Merging keeps the carbon:
    a merged observation's intensity is its energy-weighted mean."""
    notes: list[str] = []
    groups: list[list[Any]] = []
    current: list[Any] = []
    for iv in result.intervals:
        current.append(iv)
        if (current[-1].end - current[0].start).total_seconds() >= 1.0:
            groups.append(current)
            current = []
    if current:
        if groups:
            groups[-1].extend(current)
        else:
            groups.append(current)
    if len(groups) < len(result.intervals):
        notes.append(f"{len(result.intervals)} energy intervals were merged into {len(groups)} observations "
                     "of at least 1 s each (energy-weighted intensity; carbon unchanged).")
    span_s = sum(max(0.0, (g[-1].end - g[0].start).total_seconds()) for g in groups)
    pue = result.pue if result.pue > 0 else 1.0
    obs = []
    for g in groups:
        e_kwh = sum(i.energy_kwh for i in g)
        op_g = sum(i.operational_g for i in g)
        dur = (g[-1].end - g[0].start).total_seconds()
        if e_kwh > 0:
            intensity = op_g / e_kwh
        else:
            tot = sum(i.duration_s for i in g)
            intensity = sum(i.g_per_kwh * i.duration_s for i in g) / tot if tot > 0 else g[0].g_per_kwh
        share = (dur / span_s) if span_s > 0 else 1.0 / len(groups)
        obs.append({
            "timestamp": _iso_z(g[0].start),
            "duration": max(dur, 1.0),
            "energy-it": e_kwh / pue,
            "grid/carbon-intensity": intensity,
            "time-reserved": result.duration_s * share,
        })
    if obs and any(o["duration"] != (g[-1].end - g[0].start).total_seconds() for o, g in zip(obs, groups)):
        notes.append("the job lasted under 1 s; its observation duration is given as 1 s "
                     "(time-reserved carries the real duration for M).")
    return obs, notes


def build_impact_manifest(result: SciResult, meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A GSF Impact Framework 1.x manifest that recomputes ``result.sci`` with builtins only.

    Each observation is one energy interval: ``energy-it`` (kWh, before PUE) x ``pue`` ->
    ``energy``; x ``grid/carbon-intensity`` -> ``carbon-operational``. With embodied
    emissions in scope: ``device/emissions-embodied`` (g) x (``time-reserved`` /
    ``device/expected-lifespan``) x (``resources-reserved`` / ``resources-total``) ->
    ``carbon-embodied`` (otherwise 0). ``carbon`` = their sum; the Sci builtin divides by
    the whole job's functional-unit count, so each observation's ``sci`` is its share
    and time-aggregation by sum (``aggregated.sci``) gives the job's SCI.
    """
    meta = dict(meta or {})
    fu_field = {"job": "jobs", "epoch": "epochs", "1000_images": "thousand-images"}
    obs, notes = _manifest_observations(result)
    emb = result.embodied
    plugins: dict[str, Any] = {
        "energy-with-pue": {
            "method": "Multiply", "path": "builtin",
            "config": {"input-parameters": ["energy-it", "pue"], "output-parameter": "energy"},
            "parameter-metadata": {
                "inputs": {
                    "energy-it": _metadata("kWh", "IT energy of the interval (all metered components), before PUE"),
                    "pue": _metadata("none", "power usage effectiveness of the facility", "copy", "copy"),
                },
                "outputs": {"energy": _metadata("kWh", "E: facility energy of the interval (IT x PUE)")},
            },
        },
        "operational-carbon": {
            "method": "Multiply", "path": "builtin",
            "config": {"input-parameters": ["energy", "grid/carbon-intensity"], "output-parameter": "carbon-operational"},
            "parameter-metadata": {
                "inputs": {"grid/carbon-intensity": _metadata(
                    "gCO2e/kWh", "I: time-overlap-weighted grid intensity of the interval", "avg", "avg")},
                "outputs": {"carbon-operational": _metadata("gCO2e", "E x I of the interval")},
            },
        },
    }
    pipeline = ["energy-with-pue", "operational-carbon"]
    defaults: dict[str, Any] = {"pue": result.pue}
    if emb.in_scope:
        plugins.update({
            "time-share": {
                "method": "Divide", "path": "builtin",
                "config": {"numerator": "time-reserved", "denominator": "device/expected-lifespan", "output": "time-share"},
                "parameter-metadata": {
                    "inputs": {
                        "time-reserved": _metadata("s", "TiR: the job's time in this observation"),
                        "device/expected-lifespan": _metadata("s", "EL: expected lifespan of the hardware", "copy", "copy"),
                    },
                    "outputs": {"time-share": _metadata("none", "TiR / EL")},
                },
            },
            "resource-share": {
                "method": "Divide", "path": "builtin",
                "config": {"numerator": "resources-reserved", "denominator": "resources-total", "output": "resource-share"},
                "parameter-metadata": {
                    "inputs": {
                        "resources-reserved": _metadata("count", "RR: resources reserved by the job", "copy", "copy"),
                        "resources-total": _metadata("count", "ToR: total resources of the hardware", "copy", "copy"),
                    },
                    "outputs": {"resource-share": _metadata("none", "RR / ToR", "copy", "copy")},
                },
            },
            "embodied-carbon": {
                "method": "Multiply", "path": "builtin",
                "config": {"input-parameters": ["device/emissions-embodied", "time-share", "resource-share"],
                           "output-parameter": "carbon-embodied"},
                "parameter-metadata": {
                    "inputs": {"device/emissions-embodied": _metadata(
                        "gCO2e", "TE: total embodied emissions of the hardware", "copy", "copy")},
                    "outputs": {"carbon-embodied": _metadata("gCO2e", "M = TE x (TiR / EL) x (RR / ToR)")},
                },
            },
        })
        pipeline += ["time-share", "resource-share", "embodied-carbon"]
        defaults.update({
            "device/emissions-embodied": emb.te_kg * 1000.0,  # type: ignore[operator]
            "device/expected-lifespan": emb.el_years * SECONDS_PER_YEAR,  # type: ignore[operator]
            "resources-reserved": emb.rr,
            "resources-total": emb.tor,
        })
    else:
        defaults["carbon-embodied"] = 0.0  # M out of scope
    plugins["total-carbon"] = {
        "method": "Sum", "path": "builtin",
        "config": {"input-parameters": ["carbon-operational", "carbon-embodied"], "output-parameter": "carbon"},
        "parameter-metadata": {
            "inputs": {"carbon-embodied": _metadata("gCO2e", "M of the interval")},
            "outputs": {"carbon": _metadata("gCO2e", "(E x I) + M of the interval")},
        },
    }
    plugins["sci"] = {
        "method": "Sci", "path": "builtin",
        "config": {"functional-unit": fu_field[result.functional_unit]},
        "parameter-metadata": {
            "outputs": {"sci": _metadata(
                "gCO2e per functional unit",
                "this interval's carbon per functional unit of the whole job; summed over time it is the job's SCI")},
        },
    }
    pipeline += ["total-carbon", "sci"]
    defaults.update({"jobs": 1, "epochs": result.epochs, "thousand-images": result.images / 1000.0})
    metrics = ["energy", "carbon-operational", "carbon-embodied", "carbon", "sci"]
    per_unit = {"job": ("jobs", "sci-per-job"), "epoch": ("epochs", "sci-per-epoch"),
                "1000_images": ("thousand-images", "sci-per-thousand-images")}
    for unit, (field_name, out_name) in per_unit.items():
        if result.r_counts.get(unit, 0) > 0:
            plugins[out_name] = {
                "method": "Divide", "path": "builtin",
                "config": {"numerator": "carbon", "denominator": field_name, "output": out_name},
                "parameter-metadata": {"outputs": {out_name: _metadata(
                    f"gCO2e/{unit.replace('_', ' ')}", f"SCI per {unit.replace('_', ' ')} (summed over time)")}},
            }
            pipeline.append(out_name)
            metrics.append(out_name)
    title = " ".join(str(x) for x in (meta.get("model"), meta.get("run_name")) if x) or "training job"
    description = (
        f"SCI of one sci-lightning training job ({title}), written by sci-lightning. "
        f"Expected aggregated sci = {result.sci!r} {result.sci_unit}. "
        f"Energy: {result.energy_quality}; intensity: {result.intensity_kind} {result.signal_type} "
        f"from {result.intensity_source} ({result.intensity_region}). "
        + ("" if emb.in_scope else "Embodied emissions out of scope (carbon-embodied = 0). ")
        + " ".join(notes)
    ).strip()
    return _plain({
        "name": f"sci-lightning {title}",
        "description": description,
        "tags": {"kind": "ml-training", "complexity": "simple", "category": "compute"},
        "aggregation": {"metrics": metrics, "type": "both"},
        "initialize": {"plugins": plugins},
        "tree": {"children": {"training-job": {
            "pipeline": {"compute": pipeline},
            "defaults": defaults,
            "inputs": obs,
        }}},
    })


# ------------------------------------------------------------------ entry points


def write_run_report(out_dir: str | os.PathLike, result: SciResult, energy: EnergyResult,
                     meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write ``sci_report.json``, ``sci_report.md`` and ``impact.yml`` into ``out_dir``.

    Args:
        out_dir: the run folder (created if missing).
        result: from ``compute_sci``.
        energy: the ``EnergyResult`` the SCI was computed from (per-component detail).
        meta: ``model``, ``run_name``, ``val_acc``, ``val_acc_top5``, ``hardware`` (dict),
            optional ``boundary`` (text) and ``carbon_aware`` (dict with ``saving_g``,
            ``saving_pct``, ...).

    Returns:
        The report dict exactly as written to ``sci_report.json``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    secrets = secret_values()
    report = build_report(result, energy, meta)
    manifest = build_impact_manifest(result, meta)
    report, n1 = scrub(report, secrets)
    manifest, n2 = scrub(manifest, secrets)
    if n1 or n2:
        report["warnings"].append(
            f"{n1 + n2} value(s) equal to secret environment variables were redacted from the report.")
    md = render_markdown(report)
    md, _ = scrub(md, secrets)
    json_text = json.dumps(report, indent=2, allow_nan=False, ensure_ascii=False) + "\n"
    yaml_text = (
        "# GSF Impact Framework manifest written by sci-lightning. Recompute with:\n"
        f"#   if-run --manifest {MANIFEST_NAME}\n"
        + yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True, width=100)
    )
    # Defence in depth: a secret split across serialised text is still caught here.
    json_text, md, yaml_text = (redact(t, secrets) for t in (json_text, md, yaml_text))
    atomic_write_text(out / JSON_NAME, json_text)
    atomic_write_text(out / MD_NAME, md)
    atomic_write_text(out / MANIFEST_NAME, yaml_text)
    return report


_warned_loggers: set[str] = set()


def log_to_logger(logger: Any, result: SciResult, step: int | None = None) -> dict[str, float]:
    """Log the SCI scalars to a Lightning logger (or a list of loggers) and return them.

    Scalars: ``sci/score``, ``sci/operational_g``, ``sci/embodied_g``, ``sci/energy_kwh``,
    ``sci/intensity_g_per_kwh``, ``sci/cost_usd`` via ``logger.log_metrics(metrics, step)``.
    Loggers whose ``experiment`` has ``add_text`` (TensorBoard) also get a Markdown summary
    under ``sci/summary``; others (CSVLogger) skip it. A failing logger only warns (once).
    """
    metrics = {
        "sci/score": float(result.sci),
        "sci/operational_g": float(result.operational_g),
        "sci/embodied_g": float(result.embodied_g),
        "sci/energy_kwh": float(result.energy_kwh),
        "sci/intensity_g_per_kwh": float(result.mean_intensity_g_per_kwh),
        "sci/cost_usd": float(result.cost_usd),
    }
    step = result.steps if step is None else step
    loggers = logger if isinstance(logger, (list, tuple)) else ([] if logger is None else [logger])
    for lg in loggers:
        name = type(lg).__name__
        try:
            lg.log_metrics(metrics, step)
            experiment = getattr(lg, "experiment", None)
            if experiment is not None and callable(getattr(experiment, "add_text", None)):
                experiment.add_text("sci/summary", summary_markdown(result), step)
        except Exception as exc:  # never let reporting kill training
            if name not in _warned_loggers:
                _warned_loggers.add(name)
                warnings.warn(f"could not log SCI metrics to {name}: {exc!r}", RuntimeWarning, stacklevel=2)
    return metrics


__all__ = [
    "build_impact_manifest",
    "build_report",
    "log_to_logger",
    "render_markdown",
    "scrub",
    "secret_values",
    "summary_markdown",
    "write_run_report",
]
