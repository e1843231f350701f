"""The report as Markdown: the SCI disclosure (``sci_report.md``) and a short summary.

:func:`render_markdown` writes the disclosure the SCI specification's Report step asks
for (software boundary, functional unit, methodology, data sources and quality, result,
cost), the inference (Consumer SCI) records and the SCI for AI disclosure table
(:mod:`sci_lightning.sci.sci_for_ai`) from a :class:`~sci_lightning.sci.report.SciReport`. :func:`summary_markdown` is
the small table of the SCI terms shown in TensorBoard's text tab.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sci_lightning.sci.compute import SECONDS_PER_YEAR, SciResult
from sci_lightning.sci.manifest import MANIFEST_NAME
from sci_lightning.sci.report import CarbonAware, SciReport
from sci_lightning.sci.sci_for_ai import disclosure_section, inference_section
from sci_lightning.timefmt import iso_utc

__all__ = ["MD_NAME", "render_markdown", "summary_markdown"]

MD_NAME = "sci_report.md"

_UNIT_WORDS = {
    "job": "one training job",
    "epoch": "one training epoch",
    "1000_images": "1,000 training images",
    "pflop": "one PFLOP (1e15 FLOPs) of compute",
    "billion_parameters": "one billion model parameters",
    "1000_tokens": "1,000 training tokens",
}


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def _when(t: datetime | None) -> str:
    return "None" if t is None else iso_utc(t)


def render_markdown(report: SciReport) -> str:
    """The SCI disclosure (the specification's Report step) for one job, as Markdown."""
    lines = [
        *_result_section(report),
        *_boundary_sections(report),
        *_energy_section(report),
        *_intensity_section(report),
        *_embodied_section(report),
        *_sources_section(report),
        *_cost_section(report),
        *_carbon_aware_section(report.carbon_aware),
        *_slots_section(report.slots),
        *_budget_section(report.budget),
        *_work_section(report),
        *_stages_section(report),
        *inference_section(report),
        *disclosure_section(report),
    ]
    lines += ["## Warnings", ""]
    lines += [f"- {w}" for w in report.warnings] or ["None."]
    lines += [
        "",
        "## Reproduce",
        "",
        f"`{MANIFEST_NAME}` is a GSF Impact Framework manifest with one observation per energy "
        f"interval; `if-run --manifest {MANIFEST_NAME}` recomputes this SCI (`aggregated.sci`).",
        "",
    ]
    return "\n".join(lines)


def _unit_word(report: SciReport) -> str:
    fu = report.functional_unit
    return _UNIT_WORDS.get(fu or "", str(fu))


def _result_section(r: SciReport) -> list[str]:
    ints, en, t = r.intensity, r.energy_kwh, r.training
    title = " / ".join(str(x) for x in (r.model, r.run_name) if x) or "training job"
    in_scope = r.embodied is not None and r.embodied.in_scope
    r_count = r.sci_inputs.r if r.sci_inputs is not None else None
    lines = [
        f"# Software Carbon Intensity report: {title}",
        "",
        "Computed per the Green Software Foundation SCI specification v1.1 (ISO/IEC 21031:2024): "
        "SCI = ((E x I) + M) per R.",
        "",
        "## Result",
        "",
        f"**SCI = {_fmt(r.sci.value, 6)} {r.sci.unit}**",
        "",
        "| Term | Value | How obtained |",
        "|---|---|---|",
        f"| E, energy (IT x PUE) | {_fmt(en.total, 6)} kWh | {r.quality.energy} (IT {_fmt(en.it_total, 6)} kWh x PUE {_fmt(r.pue)}) |",
        f"| I, grid intensity (energy-weighted mean) | {_fmt(ints.mean_g_per_kwh, 6)} gCO2e/kWh | {ints.kind} {ints.signal_type} from {ints.source} ({ints.region}) |",
        f"| E x I, operational emissions | {_fmt(r.operational_g, 6)} gCO2e | integrated over {len(ints.intervals)} interval(s) |",
        f"| M, embodied emissions | {_fmt(r.embodied_g, 6)} gCO2e | {'in scope' if in_scope else 'out of scope'} |",
        f"| R, functional unit | {_fmt(r_count)} x {str(r.functional_unit).replace('_', ' ')} | {_unit_word(r)} |",
        "",
        "SCI for every functional unit:",
        "",
        f"- per job: {_fmt(r.sci_per.get('job'), 6)} gCO2e/job",
        f"- per epoch: {_fmt(r.sci_per.get('epoch'), 6)} gCO2e/epoch ({_epochs(t.epochs)} epochs)",
        f"- per 1,000 images: {_fmt(r.sci_per.get('1000_images'), 6)} gCO2e/1000 images ({t.samples} images)",
        *_work_unit_lines(r),
        "",
    ]
    if r.val_acc is not None:
        top5 = f", top-5 {_fmt(r.val_acc_top5)}" if r.val_acc_top5 is not None else ""
        lines += [
            f"Validation accuracy (final epoch, the one in last.ckpt): top-1 {_fmt(r.val_acc)}{top5}.",
            "",
        ]
    return lines


def _work_unit_lines(r: SciReport) -> list[str]:
    """SCI per PFLOP and per billion parameters (SCI for AI), when the work was counted."""
    w = r.work
    if w is None:
        return []
    return [
        f"- per PFLOP: {_fmt(r.sci_per.get('pflop'), 6)} gCO2e/PFLOP ({_fmt(w.total_flops / 1e15, 6)} PFLOP)",
        f"- per billion parameters: {_fmt(r.sci_per.get('billion_parameters'), 6)} gCO2e/billion parameters "
        f"({w.parameters_gross} parameters gross, {w.parameters_effective} effective i.e. active per inference, "
        f"{w.parameters_trainable} trained)",
        *(
            [
                f"- per 1,000 tokens: {_fmt(r.sci_per.get('1000_tokens'), 6)} gCO2e/1000 tokens ({w.tokens_seen} tokens)"
            ]
            if w.tokens_seen
            else []
        ),
    ]


def _work_section(r: SciReport) -> list[str]:
    """The SCI for AI work counts with their methods, and the disclosures."""
    lines: list[str] = []
    w = r.work
    if w is not None:
        lines += ["## Work done (SCI for AI)", "", "| Figure | Value | Method |", "|---|---|---|"]
        figures = {
            "train_flops": w.train_flops,
            "val_flops": w.val_flops,
            "extraction_flops": w.extraction_flops,
            "parameters_gross": w.parameters_gross,
            "parameters_effective": w.parameters_effective,
            "parameters_trainable": w.parameters_trainable,
            "images_seen": w.images_seen,
        }
        lines += [f"| {k} | {_fmt(v, 6)} | {w.methods.get(k, 'n/a')} |" for k, v in figures.items()]
        lines += [f"- {n}" for n in w.notes] + [""]
    if r.disclosures:
        lines += ["## Disclosures", "", *(f"- {d}" for d in r.disclosures), ""]
    return lines


def _boundary_sections(r: SciReport) -> list[str]:
    t = r.training
    return [
        "## Software boundary",
        "",
        str(r.boundary),
        "",
        "## Functional unit",
        "",
        f"The headline R is **{_unit_word(r)}**. The job ran {_epochs(t.epochs)} epoch(s) "
        f"(batches / batches per epoch), {t.batches} training batch(es), {t.optimizer_steps} optimizer step(s) "
        f"and {t.samples} training image(s) (samples) "
        f"from {_when(r.started_at)} to {_when(r.ended_at)} (UTC, {_fmt(r.duration_s, 6)} s).",
        "",
        f"Rationale for the unit: {r.functional_unit_rationale or 'not given (sci.functional_unit_rationale)'}.",
        "",
        *_hosts_line(t),
    ]


def _hosts_line(t: Any) -> list[str]:
    """Where a job of several processes ran (nothing for a one-process run)."""
    if t.world_size <= 1:
        return []
    hosts = ", ".join(t.hosts) or "hosts not recorded"
    return [
        f"It ran as {t.world_size} processes on {len(t.hosts) or '?'} host(s) ({hosts}); host-level energy "
        "(RAPL, CPU-time and RAM estimates) is counted once per host, each GPU once.",
        "",
    ]


def _energy_section(r: SciReport) -> list[str]:
    components = r.energy_kwh.components
    lines = [
        "## Methodology",
        "",
        "### Energy (E)",
        "",
        f"E is the IT energy of the components below multiplied by the power usage effectiveness "
        f"(PUE = {_fmt(r.pue)}) for facility overhead. Overall quality: **{r.quality.energy}**.",
        "",
        "| Component | Device | Energy (kWh, IT) | Quality | Method | Status |",
        "|---|---|---|---|---|---|",
    ]
    for c in components:
        lines.append(
            f"| {c.component} | {c.device} | {_fmt(c.energy_kwh, 6)} | {c.quality} | "
            f"{c.method}: {c.method_description} | {c.status} |"
        )
    notes = [f"- {c.component} ({c.device}): {n}" for c in components for n in c.notes]
    if notes:
        lines += ["", "Component notes:", "", *notes]
    return lines


def _intensity_section(r: SciReport) -> list[str]:
    ints = r.intensity
    lines = [
        "",
        "### Carbon intensity (I)",
        "",
        f"Source: **{ints.source}**, region {ints.region}, signal type **{ints.signal_type}**, "
        f"kind **{ints.kind}**. The energy timeline ({len(ints.intervals)} interval(s)) was "
        "multiplied interval by interval by the time-overlap-weighted intensity of that interval; "
        "I is the resulting energy-weighted mean (operational emissions / E). Seconds not covered by "
        "intensity data take the nearest point in time (or the configured default) and are listed "
        "under Warnings.",
        "",
    ]
    if ints.fallbacks:
        lines += ["Fallbacks used:", ""]
        lines += [
            f"- {f.get('provider', '?')} replaced by {f.get('replaced_by', '?')}: {f.get('reason', '')}"
            for f in ints.fallbacks
        ]
        lines.append("")
    return lines


def _embodied_section(r: SciReport) -> list[str]:
    emb = r.embodied
    lines = ["### Embodied emissions (M)", "", str(emb.statement if emb else None), ""]
    if emb is not None and emb.in_scope:
        el_s = emb.el_years * SECONDS_PER_YEAR if emb.el_years is not None else None
        lines += [
            f"TE = {_fmt(emb.te_kg)} kgCO2e, EL = {_fmt(emb.el_years)} years "
            f"({_fmt(el_s, 6)} s), TiR = {_fmt(emb.tir_s, 6)} s, "
            f"RR / ToR = {_fmt(emb.rr)} / {_fmt(emb.tor)}; M = {_fmt(r.embodied_g, 6)} gCO2e.",
            "",
        ]
    return lines


def _sources_section(r: SciReport) -> list[str]:
    ints, emb, components = r.intensity, r.embodied, r.energy_kwh.components
    methods = sorted({f"{c.component}: {c.method} ({c.quality})" for c in components}) or ["no components"]
    if emb is not None and emb.source:
        embodied = emb.source
    else:
        embodied = "not applicable (out of scope)" if emb is None or not emb.in_scope else "source not given"
    lines = [
        "## Data sources and quality",
        "",
        f"- Energy: {r.quality.energy} (" + ", ".join(methods) + ").",
        f"- Carbon intensity: {ints.kind} {ints.signal_type} intensity from {ints.source} ({ints.region}).",
        f"- Embodied: {embodied}.",
        f"- Cost: price of {_fmt(r.price_per_hour_usd)} USD per hour (configured, not measured).",
    ]
    lines += [f"- Intensity note: {n}" for n in ints.notes]
    lines += [f"- {credit}. Results using this data credit Electricity Maps." for credit in r.credits]
    return lines


def _cost_section(r: SciReport) -> list[str]:
    hours = r.duration_s / 3600.0 if r.duration_s is not None else None
    return [
        "",
        "## Cost",
        "",
        f"{_fmt(hours, 4)} h x {_fmt(r.price_per_hour_usd)} USD/h = **{_fmt(r.cost_usd, 4)} USD**.",
        "",
    ]


def _carbon_aware_section(ca: CarbonAware | None) -> list[str]:
    if ca is None or not ca.findings:
        return []
    lines = ["## Carbon-aware scheduling", ""]
    if ca.saving_g is not None:
        lines.append(
            f"Running at the lowest-carbon time would have saved {_fmt(ca.saving_g, 4)} gCO2e "
            f"({_fmt(ca.saving_pct, 3)} %)."
        )
    for k, v in ca.findings.items():
        if k not in ("saving_g", "saving_pct"):
            lines.append(f"- {k}: {_fmt(v) if not isinstance(v, (dict, list)) else json.dumps(v)}")
    lines.append("")
    return lines


def _epochs(epochs: float | None) -> str:
    return "an unknown number of (iterable data)" if epochs is None else f"{epochs:.6g}"


def _stages_section(r: SciReport) -> list[str]:
    """Stages measured outside ``fit`` (validate, test, predict, tune): not in the SCI above."""
    if not r.stages:
        return []
    lines = [
        "## Other stages (not in the SCI above)",
        "",
        "| Stage | Start (UTC) | Duration (s) | Energy (kWh, PUE applied) | Samples | Batches | Quality |",
        "|---|---|---|---|---|---|---|",
    ]
    for st in r.stages:
        name = f"{st.stage} ({st.method})" if st.method else st.stage
        lines.append(
            f"| {name} | {_when(st.started_at)} | {_fmt(st.duration_s, 6)} | {_fmt(st.energy_kwh, 6)} | "
            f"{st.samples} | {st.batches} | {st.quality} |"
        )
    return lines + [""]


def _slots_section(block: dict[str, Any] | None) -> list[str]:
    """``schedule=interrupt``: the slots actually run (with their intensity), the pauses, the notes."""
    if not block:
        return []
    lines = [
        "## Run slots (schedule=interrupt)",
        "",
        f"Status: **{block.get('status')}**; between slots the job {'waited in-process' if block.get('pause') == 'wait' else 'exited and was resumed'}"
        f"; deadline {block.get('deadline') or 'n/a'}.",
        "",
    ]
    run = block.get("run") or []
    if run:
        lines += [
            "| Slot | Start (UTC) | End (UTC) | Steps | Mean intensity (gCO2e/kWh) |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {i} | {r.get('start')} | {r.get('end') or 'running'} | {r.get('steps')} | "
            f"{_fmt(r.get('mean_g_per_kwh'), 4)} |"
            for i, r in enumerate(run, 1)
        ]
        lines.append("")
    for i, p in enumerate(block.get("pauses") or [], 1):
        joules = p.get("it_energy_j")
        energy = (
            f"{_fmt(joules / 3.6e6, 4)} kWh IT ({_fmt(joules, 4)} J)"
            if joules is not None
            else "n/a (not measured)"
        )
        lines.append(
            f"- pause {i}: {p.get('start')} to {p.get('end')} ({_fmt(p.get('duration_s'), 6)} s), "
            f"idle energy {energy}; included in E above."
        )
    if block.get("next_start"):
        lines.append(
            f"- paused: next slot starts {block['next_start']} (sbatch --begin={block.get('sbatch_begin')}); "
            f"resume with ckpt_path={block.get('ckpt_path')}."
        )
    lines += [f"- note: {n}" for n in block.get("notes") or []]
    return lines + [""]


def _budget_section(b: dict[str, Any] | None) -> list[str]:
    """The carbon budget: limits, the projected job total, the action and how much work was done."""
    if not b:
        return []
    limits = " / ".join(
        x
        for x in (
            f"{_fmt(b.get('budget_g'))} gCO2e" if b.get("budget_g") is not None else "",
            f"{_fmt(b.get('budget_kwh'))} kWh" if b.get("budget_kwh") is not None else "",
        )
        if x
    )
    fraction = b.get("fraction_done")
    lines = [
        "## Carbon budget",
        "",
        "| Budget | Projected job total | Action | Exceeded | Stopped at budget | Planned work done |",
        "|---|---|---|---|---|---|",
        f"| {limits or 'n/a'} | {_fmt(b.get('projected_kwh'), 4)} kWh, {_fmt(b.get('projected_g'), 4)} gCO2e | "
        f"{b.get('action')} | {'yes' if b.get('exceeded') else 'no'} | {'yes' if b.get('stopped') else 'no'} | "
        f"{b.get('steps_done')}/{b.get('steps_planned')} steps"
        f"{f' ({100 * fraction:.1f}%)' if isinstance(fraction, (int, float)) else ''} |",
        "",
    ]
    if b.get("statement"):
        lines.append(str(b["statement"]))
    if b.get("method"):
        lines.append(f"Method: {b['method']}.")
    return lines + [""]


def summary_markdown(result: SciResult) -> str:
    """A short Markdown table of the SCI and its parts (for TensorBoard's text tab)."""
    return "\n".join(
        [
            "| SCI term | value |",
            "|---|---|",
            f"| SCI | {result.sci:.6g} {result.sci_unit} |",
            f"| E (IT x PUE) | {result.energy_kwh:.6g} kWh ({result.energy_quality}) |",
            f"| I (energy-weighted) | {result.mean_intensity_g_per_kwh:.6g} gCO2e/kWh ({result.intensity_kind}, {result.intensity_source}) |",
            f"| operational | {result.operational_g:.6g} gCO2e |",
            f"| embodied | {result.embodied_g:.6g} gCO2e{'' if result.embodied.in_scope else ' (out of scope)'} |",
            f"| cost | {result.cost_usd:.4g} USD |",
        ]
    )
