"""Writing a campaign: ``campaign.json``, ``campaign.md`` (the SCI-for-AI disclosure) and
``campaign_impact.yml`` (a GSF Impact Framework manifest whose ``if-run`` output reproduces
the campaign total and SCI).

The manifest has one child per counted run with one observation: ``energy`` (facility
kWh counted for that run) x ``grid/carbon-intensity`` (its operational emissions / its
energy) -> ``carbon-operational``; + ``carbon-embodied`` (its M, from its report) ->
``carbon``; the Sci builtin divides by the final model's functional-unit count, so each
child's ``sci`` is its share and the tree's ``aggregated.sci`` is the campaign's SCI.
Each counted data-preparation build (a cache built once, SCI for AI §7.2) is a child of
its own (``prep-...``), with its energy, the intensity used for it and no embodied term.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from sci_lightning.campaign.rollup import (
    CAMPAIGN_SCHEMA_VERSION,
    NO_MEASUREMENT,
    Campaign,
    CampaignPreparation,
    CampaignRun,
)
from sci_lightning.fileio import atomic_write_text
from sci_lightning.redaction import redact, scrub, secret_values
from sci_lightning.sci.codec import plain
from sci_lightning.sci.manifest import IF_UNITS, divide_plugin, if_metadata, sci_plugin, total_carbon_plugin
from sci_lightning.timefmt import iso_millis_z

__all__ = [
    "write_campaign",
]

JSON_NAME = "campaign.json"
MD_NAME = "campaign.md"
MANIFEST_NAME = "campaign_impact.yml"

_FU_FIELDS = IF_UNITS  # functional unit -> the manifest field holding its R, and the per-unit output
_UNIT_WORDS = {
    "job": "one training job of the final model",
    "epoch": "one training epoch of the final model",
    "1000_images": "1,000 training images of the final model's run",
    "pflop": "one PFLOP of the final model's training + validation compute",
    "billion_parameters": "one billion parameters of the final model (gross)",
    "1000_tokens": "1,000 training tokens of the final model's run",
}


def _g(x: float | None, digits: int = 4) -> str:
    return "n/a" if x is None else f"{x:.{digits}g}"


# --------------------------------------------------------------------------- campaign.json


def _run_dict(r: CampaignRun) -> dict[str, Any]:
    return {
        "name": r.name,
        "path": str(r.path),
        "model": r.model,
        "status": r.status,
        "source": r.source,
        "resumed": r.resumed,
        "parts": len(r.parts),
        "reason": r.reason,
        "started_at": r.started_at.isoformat() if r.started_at else None,
        "ended_at": r.ended_at.isoformat() if r.ended_at else None,
        "own": {
            "energy_kwh": r.energy_kwh,
            "operational_g": r.operational_g,
            "embodied_g": r.embodied_g,
            "carbon_g": r.carbon_g,
            "cost_usd": r.cost_usd,
            "duration_s": r.duration_s,
        },
        "counted_fraction": r.counted_fraction,
        "counted": {
            f: r.counted(f)
            for f in ("energy_kwh", "operational_g", "embodied_g", "carbon_g", "cost_usd", "duration_s")
        },
        "included_in": list(r.included_in),
        "estimated": list(r.estimated),
        "share": r.share,
    }


def _prep_dict(p: CampaignPreparation) -> dict[str, Any]:
    return {
        "run": p.run,
        "counted": p.counted,
        "why": p.why,
        "energy_kwh_counted": p.energy_kwh,
        "operational_g_counted": p.counted_g,
        "operational_g_estimated": p.operational_g,
        "record": p.record.to_dict(),
    }


def campaign_dict(c: Campaign) -> dict[str, Any]:
    """The ``campaign.json`` content."""
    final = c.final
    work = final.report.work if final.report is not None else None
    return {
        "schema_version": CAMPAIGN_SCHEMA_VERSION,
        "generated_at": c.generated_at.isoformat(),
        "boundary": "SCI for AI, Provider boundary, Design and Development: every run of the campaign and the "
        "data preparation (cache builds) they used",
        "sci": {"value": c.sci, "unit": c.sci_unit},
        "sci_per": dict(c.sci_per),
        "functional_unit": c.functional_unit,
        "functional_unit_counts": dict(c.r_counts),
        "final": {
            "name": final.name,
            "path": str(final.path),
            "model": final.model,
            "parameters_gross": work.parameters_gross if work else None,
            "parameters_effective": work.parameters_effective if work else None,
            "parameters_trainable": work.parameters_trainable if work else None,
        },
        "energy_kwh": c.energy_kwh,
        "operational_g": c.operational_g,
        "embodied_g": c.embodied_g,
        "carbon_g": c.carbon_g,
        "intensity_g_per_kwh": c.intensity_g_per_kwh,
        "cost_usd": c.cost_usd,
        "duration_s": c.duration_s,
        "wall_s": c.wall_s,
        "unmeasured_s": c.unmeasured_s,
        "runs_total": len(c.runs),
        "runs_by_status": {s: c.count(s) for s in sorted({r.status for r in c.runs})},
        "runs": [_run_dict(r) for r in c.runs],
        "preparation": {
            "energy_kwh": c.preparation_kwh,
            "operational_g": c.preparation_g,
            "activities": [_prep_dict(p) for p in c.preparation],
        },
        "notes": list(c.notes),
        "disclosures": _unique(d for r in c.runs if r.report for d in r.report.disclosures),
    }


def _unique(items: Any) -> list[str]:
    out: list[str] = []
    for x in items:
        if x and x not in out:
            out.append(x)
    return out


# --------------------------------------------------------------------------- campaign.md


def _runs_table(c: Campaign) -> list[str]:
    lines = [
        "| Run | Model | Status | Parts | Measured by | Energy counted (kWh) | gCO2e counted | Share | Note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in c.runs:
        note = []
        if r is c.final:
            note.append("final model")
        if (
            r.included_in and r.counted_fraction == 0
        ):  # resumed elsewhere (also a killed folder with no files)
            note.append(f"counted in {', '.join(r.included_in)}")
        elif 0 < r.counted_fraction < 1:
            note.append(
                f"{r.counted_fraction:.1%} counted (rest in {', '.join(r.included_in) or 'another run'})"
            )
        if r.estimated:
            note.append("emissions estimated")
        if r.reason:
            note.append(redact(r.reason)[:120])
        cells = [
            r.name,
            r.model or "-",
            r.status,
            str(len(r.parts) or "-"),
            r.source,
            _g(r.counted("energy_kwh")),
            _g(r.counted("carbon_g")),
            f"{r.share:.1%}",
            "; ".join(note).replace("|", "\\|") or "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _result_section(c: Campaign) -> list[str]:
    counted = sum(1 for r in c.runs if r.measured and r.counted_fraction > 0)
    lines = [
        "# Campaign SCI (SCI for AI, Provider boundary)",
        "",
        "One Provider SCI for the whole development of a model, per the Green Software Foundation's "
        "SCI for AI (extends SCI v1.1, ISO/IEC 21031:2024): SCI = ((E x I) + M) per R, with E, I and M "
        "summed over every run of the campaign (completed, interrupted, failed and resumed) and R the "
        "functional units of the final model.",
        "",
        "## Result",
        "",
        f"**SCI = {_g(c.sci, 6)} {c.sci_unit}** (final model: {c.final.name}, {c.final.model or 'model n/a'})",
        "",
        "| Figure | Value |",
        "|---|---|",
        f"| E, energy (IT x PUE) | {_g(c.energy_kwh, 6)} kWh, of which data preparation "
        f"{_g(c.preparation_kwh, 6)} kWh |",
        f"| E x I, operational emissions | {_g(c.operational_g, 6)} gCO2e (mean I {_g(c.intensity_g_per_kwh)} gCO2e/kWh) |",
        f"| M, embodied emissions | {_g(c.embodied_g, 6)} gCO2e |",
        f"| (E x I) + M | {_g(c.carbon_g, 6)} gCO2e |",
        f"| R | {_g(c.r, 6)} x {c.functional_unit.replace('_', ' ')} |",
        f"| Cost | {_g(c.cost_usd)} USD |",
        f"| Training time (sum of runs) | {_g(c.duration_s, 6)} s; first start to last end {_g(c.wall_s, 6)} s |",
        f"| Runs | {len(c.runs)} found, {counted} counted; "
        + ", ".join(f"{c.count(s)} {s}" for s in sorted({r.status for r in c.runs}))
        + " |",
        "",
        "SCI for every functional unit of the final model:",
        "",
        *(
            f"- per {u.replace('_', ' ')}: {_g(v, 6)} gCO2e/{u.replace('_', ' ')} (R = {_g(c.r_counts[u], 6)})"
            for u, v in c.sci_per.items()
        ),
        "",
    ]
    return lines


def _unit_section(c: Campaign) -> list[str]:
    work = c.final.report.work if c.final.report is not None else None
    lines = [
        "## Functional unit",
        "",
        f"The headline R is **{_UNIT_WORDS.get(c.functional_unit, c.functional_unit)}**: the functional unit "
        "the final model's report was configured with (`sci.functional_unit`). SCI for AI asks the Provider "
        "for units that follow the neural scaling laws (per parameter, per training token, per FLOP) so that "
        "model versions can be compared and given targets; for an image classifier a training image stands "
        "for a token. R is the count of the **final model** (its parameters, or its run's FLOPs, images or "
        "epochs), not of every run: the emissions of the runs that did not produce the model are carried by "
        "the model that the campaign delivered.",
        "",
        f"Rationale given for the unit: {c.final.report.functional_unit_rationale if c.final.report and c.final.report.functional_unit_rationale else 'not given (set sci.functional_unit_rationale)'}.",
        "",
        "Gross or effective (SCI for AI 8.2.2): per billion parameters uses the **gross** count (every "
        "parameter of the final model); per PFLOP uses **effective** (utilised) FLOPs, counted on the batches "
        "actually run; per 1,000 images counts the training images actually run.",
        "",
    ]
    if work is not None:
        lines += [
            f"Counts of the final model: {work.parameters_gross} parameters gross (all; the R of "
            f"billion_parameters), {work.parameters_effective} effective (active per inference; SCI for AI "
            f"8.2.2), {work.parameters_trainable} trained; "
            f"{_g(work.total_flops / 1e15, 6)} PFLOP of its run's compute (measured with "
            "torch.utils.flop_counter.FlopCounterMode); "
            f"{work.images_seen} training images.",
            "",
        ]
    return lines


def _strategies(c: Campaign) -> list[str]:
    found: list[str] = []
    for r in c.runs:
        s = r.report.settings if r.report is not None else {}
        if s.get("freeze_backbone"):
            found.append("frozen backbone (only the head is trained)")
        if s.get("cache_features"):
            found.append("cached features (the frozen backbone runs once per image)")
        if "16" in str(s.get("precision") or ""):
            found.append(f"mixed precision ({s.get('precision')})")
        if r.report is not None and r.report.carbon_aware is not None:
            found.append(
                "carbon-aware time shifting (the saving of the best start is estimated in each report)"
            )
        if r.resumed:
            found.append("checkpoint and resume (interrupted work is resumed, not repeated)")
    return _unique(found) or ["none recorded in the run reports"]


def _disclosure_section(c: Campaign) -> list[str]:
    reports = [r.report for r in c.runs if r.report is not None]
    boundaries = _unique(rep.boundary for rep in reports)
    lines = [
        "## Counting runs",
        "",
        "Every run found is in the Runs table, whatever its status; each measured part of a "
        "job counts once. A resumed run's report already sums its parts (it lists them with the checkpoint "
        "each part resumed from); an interrupted folder whose part a later run resumed is listed with share 0 "
        "and `counted in <run>`. Failed and interrupted runs count what they measured; a folder with nothing "
        f"measured is listed as `{NO_MEASUREMENT}`.",
        "",
        "## Strategies used",
        "",
        *(f"- {s}" for s in _strategies(c)),
        "",
        "## Boundary",
        "",
        "Inside: the training and validation of every run listed (metered GPU, CPU and RAM energy x PUE, the "
        "grid intensity while each ran, and the embodied emissions each report has in scope), and data "
        "preparation (SCI for AI 7.2): the cache builds the runs used, each measured as its own window and "
        "counted once (see Data preparation). Outside: data collection (the dataset download), System "
        f"Integration, idle hardware between runs, {_g(c.unmeasured_s)} s of wall time after killed parts' "
        "last checkpoints (not measured), and inference (the Consumer boundary; see each run's inference "
        "records).",
        "",
        "The run reports' own boundary statements:",
        "",
        *(f"- {b}" for b in boundaries),
        "",
    ]
    disclosures = _unique(d for rep in reports for d in rep.disclosures)
    if disclosures:
        lines += ["Disclosures carried by the run reports:", "", *(f"- {d}" for d in disclosures), ""]
    return lines


def _preparation_section(c: Campaign) -> list[str]:
    lines = ["## Data preparation", ""]
    if not c.preparation:
        return lines + [
            "No run recorded a data-preparation activity (no preparation.json: the reference "
            "input path builds no cache, or the runs predate measured builds).",
            "",
        ]
    lines += [
        "Each cache build measured as an EnergyMonitor window; a reused cache is amortised (its one build "
        "counts once); a build inside a training window is already in that run's energy. Operational "
        "emissions: the build's energy x the intensity of the run that used it (an estimate).",
        "",
        "| Run | Activity | Items | Energy (kWh) | Quality | Counted | gCO2e counted |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in c.preparation:
        r = p.record
        lines.append(
            f"| {p.run} | {r.activity} | {r.items} | {_g(r.energy_kwh, 6)} | {r.quality or 'n/a'} | "
            f"{p.why} | {_g(p.counted_g)} |"
        )
    return lines + [""]


def _quality_section(c: Campaign) -> list[str]:
    reports = [r.report for r in c.runs if r.report is not None]
    energy = _unique(str(rep.quality.energy) for rep in reports)
    intensity = _unique(
        f"{rep.intensity.kind} {rep.intensity.signal_type} from {rep.intensity.source} "
        f"({rep.intensity.region})"
        for rep in reports
    )
    embodied = _unique(
        (rep.embodied.source or "source not given")
        if rep.embodied and rep.embodied.in_scope
        else "out of scope"
        for rep in reports
    )
    lines = [
        "## Data sources and quality",
        "",
        f"- Energy: {', '.join(energy) or 'n/a'}.",
        f"- Carbon intensity: {'; '.join(intensity) or 'n/a'}.",
        f"- Embodied: {'; '.join(embodied) or 'n/a'}.",
        *(f"- {credit}." for credit in _unique(x for rep in reports for x in rep.credits)),
        "",
    ]
    if c.notes:
        lines += ["Notes:", "", *(f"- {n}" for n in c.notes), ""]
    return lines


def campaign_markdown(c: Campaign) -> str:
    """The ``campaign.md`` text: the SCI-for-AI disclosure of the campaign."""
    lines = [
        *_result_section(c),
        *_unit_section(c),
        "## Runs",
        "",
        *_runs_table(c),
        "",
        *_preparation_section(c),
        *_disclosure_section(c),
        *_quality_section(c),
        "## Reproduce",
        "",
        f"`{MANIFEST_NAME}` is a GSF Impact Framework manifest with one child per counted run; "
        f"`if-run --manifest {MANIFEST_NAME}` recomputes the campaign's carbon and SCI (`aggregated.sci`).",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- campaign_impact.yml


def _plugins(c: Campaign) -> tuple[dict[str, Any], list[str]]:
    field_name = _FU_FIELDS[c.functional_unit][0]
    plugins: dict[str, Any] = {
        "operational-carbon": {
            "method": "Multiply",
            "path": "builtin",
            "config": {
                "input-parameters": ["energy", "grid/carbon-intensity"],
                "output-parameter": "carbon-operational",
            },
            "parameter-metadata": {
                "inputs": {
                    "energy": if_metadata("kWh", "E counted for the run (IT x PUE)"),
                    "grid/carbon-intensity": if_metadata(
                        "gCO2e/kWh", "I: the run's operational emissions / E", "avg", "avg"
                    ),
                },
                "outputs": {"carbon-operational": if_metadata("gCO2e", "E x I of the run")},
            },
        },
        "total-carbon": total_carbon_plugin(
            "M counted for the run, from its report", "(E x I) + M of the run"
        ),
        "sci": sci_plugin(
            field_name,
            "this run's carbon per functional unit of the final model; summed over the runs it is the campaign's SCI",
        ),
    }
    per_unit = _per_unit_plugins(c)
    return {**plugins, **per_unit}, ["operational-carbon", "total-carbon", "sci", *per_unit]


def _per_unit_plugins(c: Campaign) -> dict[str, Any]:
    """One ``Divide`` plugin per functional unit of the final model: the campaign SCI per that unit."""
    plugins: dict[str, Any] = {}
    for unit in c.r_counts:
        if unit in _FU_FIELDS:
            fname, out = _FU_FIELDS[unit]
            words = unit.replace("_", " ")
            outputs = {"outputs": {out: if_metadata(f"gCO2e/{words}", f"campaign SCI per {words}")}}
            plugins[out] = divide_plugin("carbon", fname, out, outputs)
    return plugins


def _child_name(r: CampaignRun, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", r.name).strip("-") or "run"
    name, i = base, 2
    while name in taken:
        name, i = f"{base}-{i}", i + 1
    taken.add(name)
    return name


def _observation(r: CampaignRun, fallback: datetime) -> dict[str, Any]:
    energy = r.counted("energy_kwh")
    return {
        "timestamp": iso_millis_z(r.started_at or r.ended_at or fallback),
        "duration": max(1.0, r.counted("duration_s")),
        "energy": energy,
        "grid/carbon-intensity": r.counted("operational_g") / energy if energy > 0 else 0.0,
        "carbon-embodied": r.counted("embodied_g"),
    }


def _prep_observation(p: CampaignPreparation, fallback: datetime) -> dict[str, Any]:
    r = p.record
    return {
        "timestamp": iso_millis_z(r.started_at or fallback),
        "duration": max(1.0, r.duration_s),
        "energy": p.energy_kwh,
        "grid/carbon-intensity": p.counted_g / p.energy_kwh if p.energy_kwh > 0 else 0.0,
        "carbon-embodied": 0.0,
    }


def campaign_manifest(c: Campaign) -> dict[str, Any]:
    """A GSF Impact Framework 1.x manifest (builtins only) that recomputes the campaign's carbon and SCI."""
    plugins, pipeline = _plugins(c)
    defaults = {_FU_FIELDS[u][0]: n for u, n in c.r_counts.items() if u in _FU_FIELDS}
    taken: set[str] = set()
    children = {}
    for r in c.runs:
        if r.measured and r.counted_fraction > 0:
            children[_child_name(r, taken)] = {
                "pipeline": {"compute": pipeline},
                "defaults": dict(defaults),
                "inputs": [_observation(r, c.generated_at)],
            }
    for i, p in enumerate(q for q in c.preparation if q.counted):
        children[f"prep-{i + 1}-{p.record.activity}"] = {
            "pipeline": {"compute": pipeline},
            "defaults": dict(defaults),
            "inputs": [_prep_observation(p, c.generated_at)],
        }
    metrics = [
        "energy",
        "carbon-operational",
        "carbon-embodied",
        "carbon",
        "sci",
        *(p for p in pipeline if p.startswith("sci-per-")),
    ]
    return plain(
        {
            "name": "sci-lightning campaign",
            "description": (
                f"Provider SCI (SCI for AI) of a model-development campaign of {len(c.runs)} run(s), written "
                f"by sci-lightning. Expected aggregated sci = {c.sci!r} {c.sci_unit}; carbon = "
                f"{c.carbon_g!r} gCO2e. Final model: {c.final.name}."
            ),
            "tags": {"kind": "ml-training-campaign", "complexity": "simple", "category": "compute"},
            "aggregation": {"metrics": metrics, "type": "both"},
            "initialize": {"plugins": plugins},
            "tree": {"children": children},
        }
    )


# --------------------------------------------------------------------------- writing


def write_campaign(c: Campaign, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``campaign.json``, ``campaign.md`` and ``campaign_impact.yml`` into ``out_dir`` (atomically, redacted)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    secrets = secret_values()
    data, _ = scrub(campaign_dict(c), secrets)
    manifest, _ = scrub(campaign_manifest(c), secrets)
    texts = {
        JSON_NAME: json.dumps(data, indent=2, allow_nan=False, ensure_ascii=False) + "\n",
        MD_NAME: campaign_markdown(c),
        MANIFEST_NAME: (
            "# GSF Impact Framework manifest written by sci-lightning. Recompute with:\n"
            f"#   if-run --manifest {MANIFEST_NAME}\n"
            + yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True, width=100)
        ),
    }
    written = {}
    for name, text in texts.items():
        written[name] = atomic_write_text(out / name, redact(text, secrets))
    return written
