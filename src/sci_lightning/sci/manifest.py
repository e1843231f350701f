"""The GSF Impact Framework manifest (``impact.yml``) that recomputes a job's SCI.

:func:`build_impact_manifest` turns a :class:`~sci_lightning.sci.compute.SciResult` into
an Impact Framework 1.x manifest whose inputs (one observation per energy-timeline
interval) and builtin-plugin pipeline (Multiply, Divide, Sum, Sci) reproduce the same SCI
with ``if-run --manifest impact.yml``; :func:`manifest_text` is the file's text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from sci_lightning.sci.codec import plain
from sci_lightning.sci.compute import SECONDS_PER_YEAR, EmbodiedInputs, SciResult
from sci_lightning.timefmt import iso_millis_z

__all__ = [
    "IF_UNITS",
    "MANIFEST_NAME",
    "build_impact_manifest",
    "divide_plugin",
    "if_metadata",
    "manifest_text",
    "sci_plugin",
    "total_carbon_plugin",
]

MANIFEST_NAME = "impact.yml"


def if_metadata(unit: str, description: str, time: str = "sum", component: str = "sum") -> dict[str, Any]:
    """An Impact Framework ``parameter-metadata`` entry: unit, words, how it aggregates over time and components."""
    return {
        "unit": unit,
        "description": description,
        "aggregation-method": {"time": time, "component": component},
    }


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
        notes.append(
            f"{len(result.intervals)} energy intervals were merged into {len(groups)} observations "
            "of at least 1 s each (energy-weighted intensity; carbon unchanged)."
        )
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
        obs.append(
            {
                "timestamp": iso_millis_z(g[0].start),
                "duration": max(dur, 1.0),
                "energy-it": e_kwh / pue,
                "grid/carbon-intensity": intensity,
                "time-reserved": result.duration_s * share,
            }
        )
    if obs and any(o["duration"] != (g[-1].end - g[0].start).total_seconds() for o, g in zip(obs, groups)):
        notes.append(
            "the job lasted under 1 s; its observation duration is given as 1 s "
            "(time-reserved carries the real duration for M)."
        )
    return obs, notes


#: Functional unit -> (its Impact Framework count parameter, the per-unit SCI output); the
#: campaign manifest uses the same names.
IF_UNITS = {
    "job": ("jobs", "sci-per-job"),
    "epoch": ("epochs", "sci-per-epoch"),
    "1000_images": ("thousand-images", "sci-per-thousand-images"),
    "pflop": ("petaflops", "sci-per-petaflop"),
    "billion_parameters": ("billion-parameters", "sci-per-billion-parameters"),
    "1000_tokens": ("thousand-tokens", "sci-per-thousand-tokens"),
}


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
    obs, notes = _manifest_observations(result)
    emb = result.embodied
    per_unit = _per_unit_plugins(result.r_counts)
    plugins: dict[str, Any] = {
        **_operational_plugins(),
        **(_embodied_plugins() if emb.in_scope else {}),
        **_carbon_and_sci_plugins(result.functional_unit),
        **per_unit,
    }
    defaults: dict[str, Any] = {"pue": result.pue}
    defaults.update(_embodied_defaults(emb))
    defaults.update({IF_UNITS[unit][0]: r for unit, r in result.r_counts.items() if unit in IF_UNITS})
    defaults.update({"jobs": 1, "epochs": result.epochs})
    metrics = ["energy", "carbon-operational", "carbon-embodied", "carbon", "sci", *per_unit]
    title = " ".join(str(x) for x in (meta.get("model"), meta.get("run_name")) if x) or "training job"
    return plain(
        {
            "name": f"sci-lightning {title}",
            "description": _description(result, meta, title, notes),
            "tags": {"kind": "ml-training", "complexity": "simple", "category": "compute"},
            "aggregation": {"metrics": metrics, "type": "both"},
            "initialize": {"plugins": plugins},
            "tree": {
                "children": {
                    "training-job": {
                        "pipeline": {"compute": list(plugins)},
                        "defaults": defaults,
                        "inputs": obs,
                    }
                }
            },
        }
    )


def _operational_plugins() -> dict[str, Any]:
    """E = IT energy x PUE, then E x I, per observation."""
    return {
        "energy-with-pue": {
            "method": "Multiply",
            "path": "builtin",
            "config": {"input-parameters": ["energy-it", "pue"], "output-parameter": "energy"},
            "parameter-metadata": {
                "inputs": {
                    "energy-it": if_metadata(
                        "kWh", "IT energy of the interval (all metered components), before PUE"
                    ),
                    "pue": if_metadata("none", "power usage effectiveness of the facility", "copy", "copy"),
                },
                "outputs": {"energy": if_metadata("kWh", "E: facility energy of the interval (IT x PUE)")},
            },
        },
        "operational-carbon": {
            "method": "Multiply",
            "path": "builtin",
            "config": {
                "input-parameters": ["energy", "grid/carbon-intensity"],
                "output-parameter": "carbon-operational",
            },
            "parameter-metadata": {
                "inputs": {
                    "grid/carbon-intensity": if_metadata(
                        "gCO2e/kWh", "I: time-overlap-weighted grid intensity of the interval", "avg", "avg"
                    )
                },
                "outputs": {"carbon-operational": if_metadata("gCO2e", "E x I of the interval")},
            },
        },
    }


def divide_plugin(numerator: str, denominator: str, output: str, metadata: dict[str, Any]) -> dict[str, Any]:
    """The ``Divide`` builtin: ``output = numerator / denominator``."""
    return {
        "method": "Divide",
        "path": "builtin",
        "config": {"numerator": numerator, "denominator": denominator, "output": output},
        "parameter-metadata": metadata,
    }


def _embodied_plugins() -> dict[str, Any]:
    """M = TE x (TiR / EL) x (RR / ToR), per observation."""
    time_share = {
        "inputs": {
            "time-reserved": if_metadata("s", "TiR: the job's time in this observation"),
            "device/expected-lifespan": if_metadata(
                "s", "EL: expected lifespan of the hardware", "copy", "copy"
            ),
        },
        "outputs": {"time-share": if_metadata("none", "TiR / EL")},
    }
    resource_share = {
        "inputs": {
            "resources-reserved": if_metadata("count", "RR: resources reserved by the job", "copy", "copy"),
            "resources-total": if_metadata("count", "ToR: total resources of the hardware", "copy", "copy"),
        },
        "outputs": {"resource-share": if_metadata("none", "RR / ToR", "copy", "copy")},
    }
    return {
        "time-share": divide_plugin("time-reserved", "device/expected-lifespan", "time-share", time_share),
        "resource-share": divide_plugin(
            "resources-reserved", "resources-total", "resource-share", resource_share
        ),
        "embodied-carbon": {
            "method": "Multiply",
            "path": "builtin",
            "config": {
                "input-parameters": ["device/emissions-embodied", "time-share", "resource-share"],
                "output-parameter": "carbon-embodied",
            },
            "parameter-metadata": {
                "inputs": {
                    "device/emissions-embodied": if_metadata(
                        "gCO2e", "TE: total embodied emissions of the hardware", "copy", "copy"
                    )
                },
                "outputs": {"carbon-embodied": if_metadata("gCO2e", "M = TE x (TiR / EL) x (RR / ToR)")},
            },
        },
    }


def _embodied_defaults(emb: EmbodiedInputs) -> dict[str, Any]:
    """TE (g), EL (s), RR and ToR for the embodied plugins; ``carbon-embodied`` 0 when M is out of scope."""
    if not emb.in_scope or emb.te_kg is None or emb.el_years is None:
        return {"carbon-embodied": 0.0}  # M out of scope
    return {
        "device/emissions-embodied": emb.te_kg * 1000.0,
        "device/expected-lifespan": emb.el_years * SECONDS_PER_YEAR,
        "resources-reserved": emb.rr,
        "resources-total": emb.tor,
    }


def total_carbon_plugin(embodied_words: str, carbon_words: str) -> dict[str, Any]:
    """The ``Sum`` builtin: carbon = carbon-operational (E x I) + carbon-embodied (M)."""
    return {
        "method": "Sum",
        "path": "builtin",
        "config": {
            "input-parameters": ["carbon-operational", "carbon-embodied"],
            "output-parameter": "carbon",
        },
        "parameter-metadata": {
            "inputs": {"carbon-embodied": if_metadata("gCO2e", embodied_words)},
            "outputs": {"carbon": if_metadata("gCO2e", carbon_words)},
        },
    }


def sci_plugin(functional_unit_field: str, sci_words: str) -> dict[str, Any]:
    """The ``Sci`` builtin: carbon per functional unit, R read from ``functional_unit_field``."""
    return {
        "method": "Sci",
        "path": "builtin",
        "config": {"functional-unit": functional_unit_field},
        "parameter-metadata": {"outputs": {"sci": if_metadata("gCO2e per functional unit", sci_words)}},
    }


def _carbon_and_sci_plugins(functional_unit: str) -> dict[str, Any]:
    """carbon = (E x I) + M, then the Sci builtin per the headline functional unit."""
    return {
        "total-carbon": total_carbon_plugin("M of the interval", "(E x I) + M of the interval"),
        "sci": sci_plugin(
            IF_UNITS[functional_unit][0],
            "this interval's carbon per functional unit of the whole job; summed over time it is the job's SCI",
        ),
    }


def _per_unit_plugins(r_counts: Mapping[str, float]) -> dict[str, Any]:
    """carbon / R for every functional unit whose R > 0 (``sci-per-...`` outputs)."""
    plugins: dict[str, Any] = {}
    for unit, (field_name, out_name) in IF_UNITS.items():
        if r_counts.get(unit, 0) > 0:
            words = unit.replace("_", " ")
            outputs = {
                "outputs": {out_name: if_metadata(f"gCO2e/{words}", f"SCI per {words} (summed over time)")}
            }
            plugins[out_name] = divide_plugin("carbon", field_name, out_name, outputs)
    return plugins


def _description(result: SciResult, meta: Mapping[str, Any], title: str, notes: list[str]) -> str:
    """The manifest's description: the run, its status, the expected SCI and the data's quality."""
    status = str(meta.get("status") or "completed")
    interruption = meta.get("interruption") or {}
    why = (
        (interruption.get("signal") or interruption.get("error"))
        if isinstance(interruption, Mapping)
        else None
    )
    return (
        f"SCI of one sci-lightning training job ({title}), written by sci-lightning. "
        f"Run status: {status}"
        + (f" ({why})" if why and status != "completed" else "")
        + ("; the figures cover the part that ran. " if status != "completed" else ". ")
        + f"Expected aggregated sci = {result.sci!r} {result.sci_unit}. "
        f"Energy: {result.energy_quality}; intensity: {result.intensity_kind} {result.signal_type} "
        f"from {result.intensity_source} ({result.intensity_region}). "
        + ("" if result.embodied.in_scope else "Embodied emissions out of scope (carbon-embodied = 0). ")
        + " ".join(notes)
    ).strip()


def manifest_text(manifest: Mapping[str, Any]) -> str:
    """The ``impact.yml`` text: a comment saying how to recompute, then the manifest as YAML."""
    return (
        "# GSF Impact Framework manifest written by sci-lightning. Recompute with:\n"
        f"#   if-run --manifest {MANIFEST_NAME}\n"
        + yaml.safe_dump(dict(manifest), sort_keys=False, allow_unicode=True, width=100)
    )
