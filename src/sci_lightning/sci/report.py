"""The run report as a type: :class:`SciReport`, how it is built from an SCI result and read.

``sci_report.json`` is :meth:`SciReport.to_dict`, ``schema_version`` 2 (2 added the
``training`` counts ``batches``, ``optimizer_steps``, ``samples``, fractional ``epochs``
and the ``stages`` list; version-1 files read with the new fields at their defaults). Its JSON Schema
ships beside this module (``sci_report.schema.json``, see :mod:`sci_lightning.sci.schema`).
:func:`build_report` makes the report of one job; :mod:`sci_lightning.sci.writer` writes it
with its Markdown disclosure and Impact Framework manifest.

Readers (the comparison, your own scripts) call :func:`load_report` or
:meth:`SciReport.from_dict`, which check every field and name the file and field of
the first malformed one; fields a file lacks take their defaults, only ``sci`` (value and
unit) is required.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sci_lightning.energy.base import METHODS, EnergyResult
from sci_lightning.sci.codec import FormatError, decode, encode, plain, report_field
from sci_lightning.sci.compute import FUNCTIONAL_UNITS, SciResult
from sci_lightning.sci.inference import InferenceFigures

__all__ = [
    "DEFAULT_BOUNDARY",
    "JSON_NAME",
    "SCHEMA_VERSION",
    "CarbonAware",
    "SciReport",
    "build_report",
    "load_report",
]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
JSON_NAME = "sci_report.json"
SCI_FORMULA = "SCI = ((E x I) + M) / R; E x I integrated over the energy timeline"

DEFAULT_BOUNDARY = (
    "One training job: the model's training and validation loop (data loading, forward and "
    "backward passes, optimizer steps, evaluation) on the machine(s) that ran it. Included: "
    "the energy of the components metered by sci-lightning (GPU, CPU package, RAM) scaled by "
    "the configured PUE for facility overhead (cooling, power delivery), and, when configured, "
    "the embodied emissions of the hardware reserved for the job's duration. Reported as their "
    "own activities, not in this E: data preparation (cache builds, measured in preparation.json "
    "beside this report; the campaign adds them) and inference stages (the inference records, "
    "Consumer SCI). Excluded: dataset download, idle time before/after the job, networking and "
    "storage equipment, and the developer's workstation."
)


# --------------------------------------------------------------------------- the type


@dataclass(kw_only=True)
class SciFigures:
    """The headline SCI: ``value`` gCO2e per functional unit, ``unit`` e.g. gCO2e/job."""

    value: float | None = report_field(doc="SCI in gCO2e per functional unit (null: not finite)")
    unit: str = report_field(doc="e.g. gCO2e/job, gCO2e/epoch, gCO2e/1000 images")


@dataclass(kw_only=True)
class SciTerms:
    """The four SCI terms for the headline functional unit: SCI = ((E x I) + M) / R."""

    energy_kwh: float | None = report_field(key="E_kwh", doc="E, facility energy (IT x PUE), kWh")
    intensity_g_per_kwh: float | None = report_field(
        key="I_g_per_kwh", doc="I, energy-weighted mean, gCO2e/kWh"
    )
    embodied_g: float | None = report_field(key="M_g", doc="M, embodied emissions, gCO2e")
    r: float | None = report_field(key="R", doc="R, functional units in the job")
    formula: str = report_field(SCI_FORMULA)


@dataclass(kw_only=True)
class ComponentFigures:
    """Energy of one metered component on one device (IT energy, PUE not applied)."""

    component: str = report_field(doc="gpu | cpu | ram")
    device: str | None = report_field(None)
    energy_kwh: float | None = report_field(None)
    method: str | None = report_field(None, doc="how it was metered (a key of energy.base.METHODS)")
    method_description: str | None = report_field(None)
    quality: str | None = report_field(None, doc="measured | estimated")
    status: str | None = report_field(None, doc="ok | partial")
    notes: list[str] = report_field(factory=list)


@dataclass(kw_only=True)
class EnergyBreakdown:
    """E: the facility total, the IT total and each component."""

    total: float | None = report_field(None, doc="E, facility energy (IT x PUE), kWh")
    it_total: float | None = report_field(None, doc="IT energy of all components, kWh")
    components: list[ComponentFigures] = report_field(factory=list)


@dataclass(kw_only=True)
class IntervalFigures:
    """Operational carbon of one energy-timeline interval (the fill fields only when a gap was filled)."""

    start: datetime
    end: datetime
    energy_kwh: float | None = report_field(doc="facility energy of the interval, kWh")
    g_per_kwh: float | None = report_field(doc="time-overlap-weighted intensity, gCO2e/kWh")
    operational_g: float | None = report_field(doc="energy_kwh x g_per_kwh, gCO2e")
    filled_s: float | None = report_field(None, omit_if_default=True, doc="seconds without intensity data")
    fill: str | None = report_field(None, omit_if_default=True, doc="nearest | default")
    fill_g_per_kwh: float | None = report_field(None, omit_if_default=True)


@dataclass(kw_only=True)
class IntensityInfo:
    """I: the grid intensity over the run, where it came from and how it was integrated."""

    mean_g_per_kwh: float | None = report_field(None, doc="I, energy-weighted mean, gCO2e/kWh")
    intervals: list[IntervalFigures] = report_field(factory=list)
    source: str | None = report_field(None)
    region: str | None = report_field(None)
    signal_type: str | None = report_field(None, doc="average | marginal")
    kind: str | None = report_field(None, doc="measured | historical | forecast | static | fallback")
    fallbacks: list[dict[str, Any]] = report_field(factory=list, doc="provider, reason, replaced_by")
    notes: list[str] = report_field(factory=list)


@dataclass(kw_only=True)
class EmbodiedFigures:
    """M = TE x (TiR / EL) x (RR / ToR), with the settings as used."""

    in_scope: bool
    te_kg: float | None = report_field(None, doc="TE, kgCO2e")
    el_years: float | None = report_field(None, doc="EL, years")
    rr: float = report_field(1.0, doc="RR, resources reserved")
    tor: float = report_field(1.0, doc="ToR, total resources")
    tir_s: float = report_field(0.0, doc="TiR, time reserved, s")
    source: str | None = report_field(None)
    statement: str = report_field("")


@dataclass(kw_only=True)
class TrainingCounts:
    """What the job's measured parts did: the counts behind the functional units
    (defined in :mod:`sci_lightning.accounting` and docs/accounting.md)."""

    epochs: float | None = report_field(
        0.0, doc="fractional epochs (batches / batches per epoch); null: unknown (iterable data)"
    )
    steps: int = report_field(
        0, doc="optimizer steps (the same figure as optimizer_steps; kept for v1 readers)"
    )
    images: int = report_field(0, doc="training samples (the same figure as samples; kept for v1 readers)")
    world_size: int = 1
    hosts: list[str] = report_field(
        factory=list,
        omit_if_default=True,
        doc="the hosts the job ran on (host-level energy counted once per host)",
    )
    batches: int = report_field(0, doc="training batches (training_step calls)")
    optimizer_steps: int = report_field(0, doc="optimizer steps Lightning counted (trainer.global_step)")
    samples: int = report_field(0, doc="training samples, batch sizes as Lightning infers them, all ranks")


@dataclass(kw_only=True)
class StageFigures:
    """One stage run outside ``fit`` and measured in its own window (not in the job's SCI)."""

    stage: str = report_field(doc="validate | test | predict | tune")
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_s: float | None = None
    energy_kwh: float | None = report_field(None, doc="facility energy of the stage (IT x PUE), kWh")
    it_energy_kwh: float | None = report_field(None, doc="IT energy of the stage, kWh")
    pue: float | None = None
    samples: int | None = report_field(
        0, doc="samples the stage's loop ran (all ranks); null: not counted (tune)"
    )
    batches: int | None = report_field(0, doc="batches the stage's loop ran; null: not counted (tune)")
    quality: str | None = report_field(None, doc="measured | estimated | mixed")
    methods: list[str] = report_field(factory=list, doc="how each component was metered")
    method: str | None = report_field(None, doc="tune: lr_find | scale_batch_size")
    status: str | None = report_field(None, doc="completed | interrupted | failed")
    world_size: int = 1
    notes: list[str] = report_field(factory=list)


@dataclass(kw_only=True)
class WorkFigures:
    """SCI for AI: the work behind the ``pflop`` and ``billion_parameters`` units, each with its method."""

    total_flops: float = report_field(0.0, doc="train + val + extraction FLOPs (R of pflop x 1e15)")
    train_flops: float = report_field(0.0, doc="forward + backward FLOPs of the training steps run")
    val_flops: float = report_field(0.0, doc="forward FLOPs of the validation batches run")
    extraction_flops: float = report_field(
        0.0, doc="frozen-backbone feature extraction FLOPs (cached features)"
    )
    train_flops_per_step: float = 0.0
    val_flops_per_batch: float = 0.0
    train_steps: int = 0
    val_batches: int = 0
    parameters_gross: int = report_field(
        0, doc="all parameters of the final model (R of billion_parameters x 1e9)"
    )
    parameters_effective: int = report_field(
        0, doc="SCI for AI effective parameters: active per inference (all of them for a dense model)"
    )
    parameters_trainable: int = report_field(0, doc="parameters the job trained (requires_grad)")
    images_seen: int = report_field(0, doc="training images in the batches run")
    tokens_seen: int = report_field(
        0, doc="sequence data: training tokens in the batches run (R of 1000_tokens x 1000)"
    )
    methods: dict[str, str] = report_field(factory=dict, doc="figure -> how it was obtained")
    notes: list[str] = report_field(factory=list)


@dataclass(kw_only=True)
class QualityInfo:
    """How the figures were obtained: ``energy`` measured | estimated | mixed; ``intensity`` its kind."""

    energy: str | None = None
    intensity: str | None = None


@dataclass
class CarbonAware:
    """The ``carbon_aware`` block as :mod:`sci_lightning.shifting` wrote it (free-form);
    the figures the comparison reads are checked when read and typed as properties."""

    findings: dict[str, Any]

    _NUMBERS = ("saving_g", "saving_pct")
    _TEXTS = ("best_start", "actual_start")

    @property
    def saving_g(self) -> float | None:
        """gCO2e a start at the best time would have saved (an estimate)."""
        return self.findings.get("saving_g")

    @property
    def saving_pct(self) -> float | None:
        return self.findings.get("saving_pct")

    @property
    def best_start(self) -> str | None:
        return self.findings.get("best_start")

    @property
    def actual_start(self) -> str | None:
        return self.findings.get("actual_start")

    def encode_json(self) -> dict[str, Any]:
        return plain(self.findings)

    @classmethod
    def decode_json(cls, raw: object, path: str, source: str) -> CarbonAware:
        findings = decode(dict[str, Any], raw, path, source)
        for key, hint in [*((k, float | None) for k in cls._NUMBERS), *((k, str | None) for k in cls._TEXTS)]:
            if key in findings:
                findings[key] = decode(hint, findings[key], f"{path}.{key}", source)
        return cls(findings)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        props = {k: {"type": ["number", "null"]} for k in cls._NUMBERS}
        props.update({k: {"type": ["string", "null"]} for k in cls._TEXTS})
        return {"type": "object", "description": " ".join((cls.__doc__ or "").split()), "properties": props}


@dataclass(kw_only=True)
class SciReport:
    """Everything ``sci_report.json`` holds, typed; ``to_dict()`` is the file's content."""

    schema_version: int = report_field(SCHEMA_VERSION, schema={"const": SCHEMA_VERSION})
    model: str | None = report_field(None, doc="timm model name")
    run_name: str | None = report_field(None)
    functional_unit: str | None = report_field(
        None, doc="the headline R", schema={"enum": [*FUNCTIONAL_UNITS, None]}
    )
    sci: SciFigures
    sci_per: dict[str, float | None] = report_field(
        factory=dict, doc="SCI per job / epoch / 1000_images / pflop / billion_parameters / 1000_tokens"
    )
    functional_unit_counts: dict[str, float] = report_field(factory=dict, doc="R for each unit")
    sci_inputs: SciTerms | None = None
    energy_kwh: EnergyBreakdown = report_field(factory=EnergyBreakdown)
    duration_s: float | None = None
    intensity: IntensityInfo = report_field(factory=IntensityInfo)
    operational_g: float | None = report_field(None, doc="E x I, gCO2e")
    embodied_g: float | None = report_field(None, doc="M, gCO2e")
    carbon_g: float | None = report_field(None, doc="E x I + M, gCO2e")
    embodied: EmbodiedFigures | None = None
    pue: float | None = None
    cost_usd: float | None = None
    price_per_hour_usd: float | None = None
    val_acc: float | None = report_field(
        None, doc="top-1 validation accuracy of the final epoch (last.ckpt), 0..1"
    )
    val_acc_top5: float | None = None
    hardware: dict[str, Any] = report_field(factory=dict)
    settings: dict[str, Any] = report_field(factory=dict)
    training: TrainingCounts = report_field(factory=TrainingCounts)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    quality: QualityInfo = report_field(factory=QualityInfo)
    boundary: str | None = report_field(None, doc="the software boundary")
    warnings: list[str] = report_field(factory=list)
    credits: list[str] = report_field(factory=list)
    generated_at: datetime | None = None
    carbon_aware: CarbonAware | None = report_field(None, omit_if_default=True)
    status: str | None = report_field(
        None, omit_if_default=True, doc="completed | interrupted | failed | paused"
    )
    interruption: dict[str, Any] | None = report_field(
        None,
        omit_if_default=True,
        doc="what stopped the run: signal (SIGINT|SIGTERM|SIGUSR1) or error (redacted)",
    )
    parts: list[dict[str, Any]] = report_field(
        factory=list,
        doc="one entry per run part (fit): started_at, ended_at, energy, steps, images, status, checkpoint",
    )
    unmeasured_s: float = report_field(
        0.0, doc="wall time after a killed part's last checkpoint, not measured, s"
    )
    work: WorkFigures | None = report_field(
        None, omit_if_default=True, doc="SCI for AI: FLOPs and parameters"
    )
    disclosures: list[str] = report_field(factory=list, doc="SCI for AI disclosures (sci.disclosures)")
    functional_unit_rationale: str | None = report_field(
        None,
        omit_if_default=True,
        doc="why the headline functional unit was chosen (sci.functional_unit_rationale)",
    )
    budget: dict[str, Any] | None = report_field(
        None,
        omit_if_default=True,
        doc="the carbon budget (sci.budget_g / budget_kwh): limits, the projected job total and its method, "
        "whether it was exceeded and the run stopped at it, steps done / planned",
    )
    stages: list[StageFigures] = report_field(
        factory=list,
        doc="stages outside fit (validate, test, predict, tune), each measured in its own window; not in the SCI",
    )
    slots: dict[str, Any] | None = report_field(
        None,
        omit_if_default=True,
        doc="schedule=interrupt: status (running | completed | paused), the planned slots, the slots actually run "
        "(start, end, steps), the pauses (start, end, duration_s, it_energy_j), next_start, sbatch_begin, ckpt_path",
    )
    inference: list[InferenceFigures] = report_field(
        factory=list,
        omit_if_default=True,
        doc="Consumer SCI (SCI for AI): one entry per measured inference stage (test, predict, your own loop)",
    )

    def to_dict(self) -> dict[str, Any]:
        """The ``sci_report.json`` content as plain JSON data."""
        return encode(self)

    def to_json(self) -> str:
        """The ``sci_report.json`` text."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = JSON_NAME) -> SciReport:
        """A report from its JSON data (any ``schema_version`` so far; newer ones with a warning).

        Raises:
            FormatError: a field has the wrong type or ``sci`` is missing; the message
                names ``source`` and the field.
        """
        version = data.get("schema_version") if isinstance(data, Mapping) else None
        if isinstance(version, (int, float)) and not isinstance(version, bool) and version > SCHEMA_VERSION:
            log.warning(
                "%s has schema_version %s; this version of sci-lightning knows up to %s "
                "and reads the fields it knows.",
                source,
                version,
                SCHEMA_VERSION,
            )
        report = decode(cls, data, "", source)
        t = report.training
        if not (t.batches or t.optimizer_steps or t.samples):  # a version-1 file: steps, images only
            t.optimizer_steps, t.samples = t.steps, t.images
        return report

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> SciReport:
        """The report in ``path``: a ``sci_report.json`` file or the run folder holding it.

        Raises:
            OSError: the file cannot be read.
            FormatError: it is not JSON, or a field is malformed (named in the message).
        """
        path = Path(path)
        if path.is_dir():
            path = path / JSON_NAME
        text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except ValueError as e:
            raise FormatError(str(path), "", f"is not valid JSON ({e})") from None
        return cls.from_dict(data, str(path))


def load_report(path: str | os.PathLike[str]) -> SciReport:
    """:meth:`SciReport.read`: the report in a ``sci_report.json`` file or a run folder.

    A file read before and unchanged since (same size, mtime and inode) is not decoded again:
    ``compare`` reads each report for its table and for its campaign line. Treat the
    returned report as read-only (it may be shared).
    """
    file = Path(path) / JSON_NAME if Path(path).is_dir() else Path(path)
    try:
        st = file.stat()
    except OSError:
        return SciReport.read(file)
    key = (str(file.absolute()), st.st_size, st.st_mtime_ns, st.st_ino)
    found = _READ.get(key)
    if found is None:
        found = SciReport.read(file)
        if len(_READ) >= _READ_MAX:
            _READ.clear()
        _READ[key] = found
    return found


#: Reports already decoded in this process, by (path, size, mtime, inode); bounded.
_READ: dict[tuple[str, int, int, int], SciReport] = {}
_READ_MAX = 4096


# --------------------------------------------------------------------------- building


def _credits_electricity_maps(result: SciResult) -> bool:
    texts = [
        result.intensity_source,
        *result.intensity_notes,
        *(str(f.get("provider", "")) + " " + str(f.get("replaced_by", "")) for f in result.fallbacks),
    ]
    return any("electricitymaps" in re.sub(r"[^a-z]", "", t.lower()) for t in texts)


def _components(energy: EnergyResult) -> list[ComponentFigures]:
    return [
        ComponentFigures(
            component=c.component,
            device=c.device,
            energy_kwh=c.energy_kwh,
            method=c.method,
            method_description=METHODS.get(c.method, (c.quality, "unknown method"))[1],
            quality=c.quality,
            status=c.status,
            notes=list(c.notes),
        )
        for c in energy.components
    ]


def _intensity(result: SciResult) -> IntensityInfo:
    intervals = [
        IntervalFigures(
            start=i.start,
            end=i.end,
            energy_kwh=i.energy_kwh,
            g_per_kwh=i.g_per_kwh,
            operational_g=i.operational_g,
            **(
                {"filled_s": i.filled_s, "fill": i.fill, "fill_g_per_kwh": i.fill_g_per_kwh} if i.fill else {}
            ),
        )
        for i in result.intervals
    ]
    return IntensityInfo(
        mean_g_per_kwh=result.mean_intensity_g_per_kwh,
        intervals=intervals,
        source=result.intensity_source,
        region=result.intensity_region,
        signal_type=result.signal_type,
        kind=result.intensity_kind,
        fallbacks=plain(list(result.fallbacks)),
        notes=list(result.intensity_notes),
    )


def _embodied(result: SciResult) -> EmbodiedFigures:
    e = result.embodied
    return EmbodiedFigures(
        in_scope=e.in_scope,
        te_kg=e.te_kg,
        el_years=e.el_years,
        rr=e.rr,
        tor=e.tor,
        tir_s=e.tir_s,
        source=e.source,
        statement=e.statement,
    )


def _work(result: SciResult) -> WorkFigures | None:
    w = result.work
    return None if w is None else WorkFigures(**w.to_dict())


def _training(result: SciResult, energy: EnergyResult) -> TrainingCounts:
    return TrainingCounts(
        epochs=result.epochs,
        steps=result.steps,
        images=result.images,
        world_size=energy.world_size,
        batches=result.batches,
        optimizer_steps=result.steps,
        samples=result.images,
        hosts=list(energy.hosts),
    )


def _result_fields(result: SciResult, energy: EnergyResult) -> dict[str, Any]:
    """The report's fields that come from the SCI result and the energy measured."""
    return {
        "functional_unit": result.functional_unit,
        "sci": SciFigures(value=result.sci, unit=result.sci_unit),
        "sci_per": dict(result.sci_per),
        "functional_unit_counts": dict(result.r_counts),
        "sci_inputs": SciTerms(
            energy_kwh=result.inputs.energy_kwh,
            intensity_g_per_kwh=result.inputs.intensity_g_per_kwh,
            embodied_g=result.inputs.embodied_g,
            r=result.inputs.r,
        ),
        "energy_kwh": EnergyBreakdown(
            total=result.energy_kwh, it_total=result.it_energy_kwh, components=_components(energy)
        ),
        "duration_s": result.duration_s,
        "intensity": _intensity(result),
        "operational_g": result.operational_g,
        "embodied_g": result.embodied_g,
        "carbon_g": result.carbon_g,
        "embodied": _embodied(result),
        "pue": result.pue,
        "cost_usd": result.cost_usd,
        "price_per_hour_usd": result.price_per_hour_usd,
        "training": _training(result, energy),
        "started_at": result.started_at,
        "ended_at": result.ended_at,
        "quality": QualityInfo(energy=result.energy_quality, intensity=result.intensity_kind),
        "warnings": [*energy.warnings, *result.notes],
        "credits": (
            ["Carbon-intensity data: Electricity Maps (https://www.electricitymaps.com)"]
            if _credits_electricity_maps(result)
            else []
        ),
        "work": _work(result),
        "disclosures": list(result.disclosures),
        "functional_unit_rationale": result.functional_unit_rationale,
    }


def _meta_fields(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The report's fields that the caller passes in ``meta`` (see :func:`build_report`)."""
    ca = meta.get("carbon_aware")
    return {
        "model": meta.get("model"),
        "run_name": meta.get("run_name"),
        "val_acc": meta.get("val_acc"),
        "val_acc_top5": meta.get("val_acc_top5"),
        "hardware": meta.get("hardware") or {},
        "settings": meta.get("settings") or {},
        "boundary": meta.get("boundary") or DEFAULT_BOUNDARY,
        "carbon_aware": None if ca is None else CarbonAware(dict(ca)),
        "status": meta.get("status"),
        "interruption": meta.get("interruption"),
        "parts": list(meta.get("parts") or []),
        "unmeasured_s": float(meta.get("unmeasured_s") or 0.0),
        "budget": meta.get("budget"),
        "slots": meta.get("slots"),
        "inference": decode(
            list[InferenceFigures], meta.get("inference") or [], "inference", "the report being built"
        ),
        "stages": [
            decode(StageFigures, st, f"stages[{i}]", "the report being built")
            for i, st in enumerate(meta.get("stages") or [])
        ],
    }


def build_report(result: SciResult, energy: EnergyResult, meta: Mapping[str, Any] | None = None) -> SciReport:
    """The report of one job (not yet scrubbed of secrets).

    ``meta``: ``model``, ``run_name``, ``val_acc``, ``val_acc_top5``, ``hardware`` and
    ``settings`` (dicts), optional ``boundary`` (text) and ``carbon_aware`` (the findings
    dict, with ``saving_g``, ``saving_pct``, ...), and for interrupted or resumed jobs
    ``status``, ``interruption``, ``parts`` and ``unmeasured_s``; ``inference``: the
    Consumer SCI records (:func:`sci_lightning.sci.inference.inference_sci`) of inference stages.
    ``stages`` (dicts of :class:`StageFigures` fields): stages measured outside ``fit``.
    """
    given: dict[str, Any] = plain(dict(meta or {}))
    report = SciReport(
        **_result_fields(result, energy),
        **_meta_fields(given),
        generated_at=datetime.now(timezone.utc),
    )
    # Through the JSON form once: every figure is checked and typed as a reader will see it.
    return SciReport.from_dict(report.to_dict(), "the report being built")
