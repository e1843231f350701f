"""Software Carbon Intensity of a training job, per the GSF SCI specification v1.1
(ISO/IEC 21031:2024)::

    SCI = ((E x I) + M) per R

- **E** energy in kWh consumed by the software, facility overhead included
  (IT energy x PUE).
- **I** location-based marginal or average grid carbon intensity in gCO2e/kWh. It is
  *integrated over the run*: each interval of the energy timeline is multiplied by the
  time-overlap-weighted intensity of that interval, so a run that straddles a change in
  the grid mix is charged what it actually drew when it drew it. The reported ``I`` is the
  energy-weighted mean (``operational_g / energy_kwh``).
- **M** embodied emissions ``TE x (TiR / EL) x (RR / ToR)``: TE the hardware's total
  embodied emissions, TiR the time reserved (the job's duration), EL its expected
  lifespan, RR / ToR the share of the hardware reserved. Optional: with no TE / EL
  configured M = 0 and the report states that embodied emissions are out of scope.
- **R** the functional unit: one training job (default), one epoch, 1,000 training
  images, and (SCI for AI, with the job's :class:`~sci_lightning.sci.work.WorkCounts`)
  one PFLOP of compute, one billion parameters of the model or, for sequence data, 1,000
  training tokens (SCI for AI's per-token unit). All are computed;
  ``SciConfig.functional_unit`` picks the headline.

Everything here is plain functions on plain data so that the numbers can be checked by
hand and against the GSF Impact Framework (see ``manifest.build_impact_manifest``).
Settings arrive as a ``SciConfig`` (a dict or Hydra node is coerced, and so checked, by
:func:`sci_lightning.settings.coerce`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sci_lightning.carbon.base import IntensityPoint, IntensitySeries, ensure_utc
from sci_lightning.energy.base import EnergyInterval, EnergyResult
from sci_lightning.errors import SciLightningError
from sci_lightning.sci.embodied import accelerator_embodied
from sci_lightning.sci.notes import (
    FORECAST_NOTE,
    ZERO_ENERGY_NOTE,
    fallback_notes,
    fill_notes,
    headline_unit_notes,
    timeline_notes,
    unavailable_unit_notes,
)
from sci_lightning.sci.work import WorkCounts
from sci_lightning.settings import FUNCTIONAL_UNITS, SciConfig, coerce

#: EL (years) -> seconds with a 365-day year, as the SCI specification's worked example
#: (TE 1000 kg, EL 4 years, 1 h reserved -> 28.5388 g) and the Impact Framework's
#: ``sci-embodied`` plugin (default lifespan 126,144,000 s = 4 x 365 x 86,400) count it.
SECONDS_PER_YEAR = 365 * 24 * 3600
J_PER_KWH = 3.6e6

OUT_OF_SCOPE_STATEMENT = (
    "Embodied emissions (M) are out of scope for this report: no hardware embodied-emissions "
    "figure (TE) and expected lifespan (EL) were configured, so M = 0 gCO2e. "
    "Set sci.embodied_total_kg and sci.lifespan_years to include them."
)


class SciError(SciLightningError):
    """The SCI cannot be computed from the data given; the message says what is missing."""


# --------------------------------------------------------------------------- types


@dataclass
class IntervalCarbon:
    """Operational carbon of one energy-timeline interval.

    ``energy_kwh`` is facility energy (IT x PUE). ``g_per_kwh`` is the time-overlap-weighted
    intensity over [start, end). ``filled_s`` seconds of the interval had no intensity point
    and took ``fill`` (``"nearest"`` or ``"default"``) with value ``fill_g_per_kwh``.
    """

    start: datetime
    end: datetime
    energy_kwh: float
    g_per_kwh: float
    operational_g: float
    filled_s: float = 0.0
    fill: str | None = None
    fill_g_per_kwh: float | None = None

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        d = {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "energy_kwh": self.energy_kwh,
            "g_per_kwh": self.g_per_kwh,
            "operational_g": self.operational_g,
        }
        if self.fill:
            d.update(filled_s=self.filled_s, fill=self.fill, fill_g_per_kwh=self.fill_g_per_kwh)
        return d


@dataclass
class EmbodiedInputs:
    """The embodied-emissions settings as used: M = TE x (TiR / EL) x (RR / ToR)."""

    in_scope: bool
    te_kg: float | None = None
    el_years: float | None = None
    rr: float = 1.0
    tor: float = 1.0
    tir_s: float = 0.0
    source: str | None = None
    statement: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SciInputs:
    """The four SCI terms for the headline functional unit: SCI = ((E x I) + M) / R."""

    energy_kwh: float  # E, facility energy (IT x PUE)
    intensity_g_per_kwh: float  # I, energy-weighted mean over the run
    embodied_g: float  # M
    r: float  # R, number of functional units in the job
    functional_unit: str = "job"

    def score(self) -> float:
        """((E x I) + M) / R in gCO2e per functional unit."""
        if self.r <= 0:
            raise SciError(
                f"functional unit count R must be > 0 (got {self.r} for {self.functional_unit!r})."
            )
        return (self.energy_kwh * self.intensity_g_per_kwh + self.embodied_g) / self.r


@dataclass
class SciResult:
    """The SCI of one job with every part needed to publish and re-check it."""

    functional_unit: str  # the headline R actually used
    sci: float  # headline SCI, gCO2e per functional unit
    sci_unit: str
    sci_per: dict[str, float | None]  # per FUNCTIONAL_UNITS key (None when R = 0)
    r_counts: dict[str, float]  # R for each unit: 1 job, N epochs, images / 1000
    inputs: SciInputs
    energy_kwh: float  # E (IT x PUE)
    it_energy_kwh: float
    pue: float
    operational_g: float  # E x I, integrated over the timeline
    embodied_g: float  # M
    mean_intensity_g_per_kwh: float
    intervals: list[IntervalCarbon]
    intensity_source: str
    intensity_region: str
    signal_type: str
    intensity_kind: str
    fallbacks: list[dict[str, Any]]
    embodied: EmbodiedInputs
    duration_s: float
    cost_usd: float
    price_per_hour_usd: float
    started_at: datetime
    ended_at: datetime
    epochs: float | None = 0.0  # fractional epochs (None: unknown, iterable data)
    steps: int = 0  # optimizer steps
    images: int = 0  # training samples
    batches: int = 0  # training batches
    energy_quality: str = "estimated"  # measured | estimated | mixed
    notes: list[str] = field(default_factory=list)  # data-quality notes (never silent)
    intensity_notes: list[str] = field(default_factory=list)  # the series' own notes
    work: WorkCounts | None = None  # FLOPs, parameters, images (SCI for AI), when counted
    disclosures: list[str] = field(default_factory=list)  # sci.disclosures, verbatim
    functional_unit_rationale: str | None = None  # sci.functional_unit_rationale, verbatim

    @property
    def carbon_g(self) -> float:
        """Total emissions of the job (E x I + M), gCO2e."""
        return self.operational_g + self.embodied_g

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["intervals"] = [i.to_dict() for i in self.intervals]
        d["started_at"] = self.started_at.isoformat()
        d["ended_at"] = self.ended_at.isoformat()
        d["carbon_g"] = self.carbon_g
        return d


# ------------------------------------------------------------------- settings


def embodied_inputs(settings: SciConfig, tir_s: float) -> EmbodiedInputs:
    """The embodied-emissions settings as used for a window of ``tir_s`` seconds (TE from
    ``sci.embodied_total_kg`` or the cited accelerator table; checked by ``SciConfig.check``)."""
    rr_f = float(settings.resources_reserved)
    tor_f = float(settings.resources_total)
    source = settings.embodied_source
    if not settings.embodied_in_scope:
        return EmbodiedInputs(
            in_scope=False, rr=rr_f, tor=tor_f, tir_s=tir_s, source=source, statement=OUT_OF_SCOPE_STATEMENT
        )
    te_f, source = _te_kg(settings, tor_f, source)
    el_f = float(settings.lifespan_years)  # type: ignore[arg-type]
    statement = (
        f"M = TE x (TiR / EL) x (RR / ToR) with TE = {te_f:g} kgCO2e, EL = {el_f:g} years, "
        f"TiR = the job's duration, RR / ToR = {rr_f:g} / {tor_f:g}"
        + (f"; figures from: {source}." if source else "; source of the figures not given.")
    )
    return EmbodiedInputs(
        in_scope=True,
        te_kg=te_f,
        el_years=el_f,
        rr=rr_f,
        tor=tor_f,
        tir_s=tir_s,
        source=source,
        statement=statement,
    )


def _te_kg(settings: SciConfig, tor: float, source: str | None) -> tuple[float, str | None]:
    """TE and its source: ``sci.embodied_total_kg`` when given, else the cited accelerator
    table's figure per unit x ToR (the pool the job reserves RR of)."""
    if settings.embodied_total_kg is not None:
        return float(settings.embodied_total_kg), source
    row = accelerator_embodied(str(settings.accelerator))
    cited = f"{row.name}: {row.te_kg_per_unit:g} kgCO2e per unit x ToR {tor:g} units; {row.citation}"
    return row.te_kg_per_unit * tor, (f"{source}; {cited}" if source else cited)


def functional_unit_counts(energy: EnergyResult, work: WorkCounts | None) -> dict[str, float]:
    """R for every functional unit: 1 job, epochs, images / 1000 and, when the work was
    counted (SCI for AI), PFLOP and billions of parameters."""
    epochs = float(energy.epochs) if energy.epochs is not None else 0.0  # unknown: R not available
    counts = {"job": 1.0, "epoch": epochs, "1000_images": energy.images / 1000.0}
    if work is not None:
        counts.update(pflop=work.total_pflop, billion_parameters=work.billion_parameters)
        if work.tokens_seen > 0:  # sequence data (SCI for AI 8.2: per training token)
            counts["1000_tokens"] = work.tokens_seen / 1000.0
    return counts


# ---------------------------------------------------------------- arithmetic


def embodied_g(te_kg: float, tir_s: float, el_years: float, rr: float = 1.0, tor: float = 1.0) -> float:
    """M = TE x (TiR / EL) x (RR / ToR) in gCO2e (TE in kgCO2e, TiR in s, EL in years)."""
    return te_kg * 1000.0 * (tir_s / (el_years * SECONDS_PER_YEAR)) * (rr / tor)


def _overlap_s(a0: datetime, a1: datetime, b0: datetime, b1: datetime) -> float:
    lo, hi = max(a0, b0), min(a1, b1)
    return max(0.0, (hi - lo).total_seconds())


def _distance_s(p: IntensityPoint, t0: datetime, t1: datetime) -> float:
    """Seconds between [t0, t1] and the point's [start, end) (0 if they touch/overlap)."""
    if p.end <= t0:
        return (t0 - p.end).total_seconds()
    if p.start >= t1:
        return (p.start - t1).total_seconds()
    return 0.0


def _nearest(points: Sequence[IntensityPoint], t0: datetime, t1: datetime) -> IntensityPoint:
    return min(points, key=lambda p: (_distance_s(p, t0, t1), p.start))


def _sorted_points(points: Iterable[IntensityPoint]) -> list[IntensityPoint]:
    out = []
    for p in points:
        start = ensure_utc(p.start, "intensity point start")
        end = ensure_utc(p.end, "intensity point end")
        if end <= start or not math.isfinite(p.g_per_kwh) or p.g_per_kwh < 0:
            continue  # unusable point: ignored (an empty result is reported by the caller)
        out.append(IntensityPoint(start, end, float(p.g_per_kwh)))
    return sorted(out, key=lambda p: p.start)


def integrate_operational_g(
    timeline: Sequence[EnergyInterval],
    points: Sequence[IntensityPoint],
    *,
    pue: float = 1.0,
    default_g_per_kwh: float | None = None,
) -> tuple[float, list[IntervalCarbon]]:
    """Operational carbon E x I integrated over an energy timeline, in gCO2e.

    Each interval's energy (``energy_j`` x ``pue``, in kWh) is multiplied by the intensity
    of that interval: the mean of the intensity points weighted by their time overlap with
    the interval. Seconds of an interval that no point covers take the value of the
    *nearest* point in time (or ``default_g_per_kwh`` when there are no usable points at
    all); each record says how many seconds were filled and how, so callers can report it.
    A zero-length interval takes the point containing its instant (or the nearest).

    Returns ``(operational_g, records)``. Raises ``SciError`` when there are no usable
    points and no default.
    """
    pts = _sorted_points(points)
    if not pts and default_g_per_kwh is None and timeline:
        raise SciError(
            "no usable carbon-intensity points cover the run and no default is set; check the "
            "carbon provider (carbon.provider / carbon.fallback) or set sci.default_intensity_g_per_kwh."
        )
    total_g = 0.0
    records: list[IntervalCarbon] = []
    for iv in timeline:
        record = _interval_carbon(iv, pts, pue, default_g_per_kwh)
        total_g += record.operational_g
        records.append(record)
    return total_g, records


def _interval_carbon(
    iv: EnergyInterval, pts: Sequence[IntensityPoint], pue: float, default_g_per_kwh: float | None
) -> IntervalCarbon:
    """One interval's energy (kWh, facility) times its intensity, with how gaps were filled."""
    t0 = ensure_utc(iv.start, "energy interval start")
    t1 = ensure_utc(iv.end, "energy interval end")
    if t1 < t0:
        raise SciError(f"energy interval ends ({t1.isoformat()}) before it starts ({t0.isoformat()}).")
    energy_kwh = iv.energy_j * pue / J_PER_KWH
    duration = (t1 - t0).total_seconds()
    if duration == 0.0:
        g, fill = _instant_g_per_kwh(pts, t0, t1, default_g_per_kwh)
        filled_s, fill_value = 0.0, (None if fill is None else g)
    else:
        weighted, gaps = _covered_weighted(pts, t0, t1, duration)
        gap_weighted, filled_s, fill = _filled_weighted(gaps, pts, default_g_per_kwh)
        fill_value = gap_weighted / filled_s if filled_s > 0 else None
        g = (weighted + gap_weighted) / duration
    return IntervalCarbon(t0, t1, energy_kwh, g, energy_kwh * g, filled_s, fill, fill_value)


def _instant_g_per_kwh(
    pts: Sequence[IntensityPoint], t0: datetime, t1: datetime, default_g_per_kwh: float | None
) -> tuple[float, str | None]:
    """The intensity at a zero-length interval: the point containing it, else the nearest,
    else the default; with the fill used (None when a point contains it)."""
    containing = [p for p in pts if p.start <= t0 < p.end]
    if containing:
        return containing[0].g_per_kwh, None
    if pts:
        return _nearest(pts, t0, t1).g_per_kwh, "nearest"
    return _default(default_g_per_kwh), "default"


def _covered_weighted(
    pts: Sequence[IntensityPoint], t0: datetime, t1: datetime, duration: float
) -> tuple[float, list[tuple[datetime, datetime]]]:
    """The overlap-weighted intensity sum (g/kWh x s) of the points covering [t0, t1), and
    the gaps no point covers."""
    weighted, covered = 0.0, 0.0
    gaps: list[tuple[datetime, datetime]] = []
    cursor = t0
    for p in pts:
        if p.start >= t1:
            break
        ov = _overlap_s(t0, t1, p.start, p.end)
        if ov <= 0:
            continue
        weighted += ov * p.g_per_kwh
        covered += ov
        if p.start > cursor:
            gaps.append((cursor, p.start))
        cursor = max(cursor, p.end)
    if cursor < t1:
        gaps.append((cursor, t1))
    # Overlapping points (a malformed series) would double count: normalise.
    inside = duration - sum((b - a).total_seconds() for a, b in gaps)
    if covered > inside + 1e-9:
        weighted *= inside / covered
    return weighted, gaps


def _filled_weighted(
    gaps: Sequence[tuple[datetime, datetime]], pts: Sequence[IntensityPoint], default_g_per_kwh: float | None
) -> tuple[float, float, str | None]:
    """The gaps filled with the nearest point (or the default): their weighted sum
    (g/kWh x s), their seconds and the fill used."""
    gap_weighted, filled_s, fill = 0.0, 0.0, None
    for a, b in gaps:
        length = (b - a).total_seconds()
        if length <= 0:
            continue
        if pts:
            value, fill = _nearest(pts, a, b).g_per_kwh, "nearest"
        else:
            value, fill = _default(default_g_per_kwh), "default"
        gap_weighted += length * value
        filled_s += length
    return gap_weighted, filled_s, fill


def _default(default_g_per_kwh: float | None) -> float:
    """The default intensity (the caller has checked that one is set when no point is usable)."""
    if default_g_per_kwh is None:  # pragma: no cover - integrate_operational_g refuses this case
        raise SciError("no intensity point and no default intensity.")
    return float(default_g_per_kwh)


def _energy_quality(energy: EnergyResult) -> str:
    comps = [c for c in energy.components if c.energy_j > 0] or list(energy.components)
    qualities = {c.quality for c in comps}
    if not qualities:
        return "estimated"
    if len(qualities) == 1:
        return qualities.pop()
    return "mixed"


def _prepare_timeline(energy: EnergyResult) -> tuple[list[EnergyInterval], str | None]:
    """The timeline scaled so its IT energy equals the components' total (the authoritative E),
    and what was done to it: ``"empty"`` (one interval made up), ``"rescaled"`` (a sum that
    disagreed beyond 0.1 %) or None."""
    it_j = energy.it_energy_j
    timeline = list(energy.timeline)
    tl_j = sum(iv.energy_j for iv in timeline)
    if not timeline or (tl_j <= 0 and it_j > 0):
        return [EnergyInterval(energy.started_at, energy.ended_at, it_j)], "empty"
    change = "rescaled" if it_j > 0 and abs(tl_j - it_j) > 1e-3 * it_j else None
    if tl_j > 0 and tl_j != it_j:
        scale = it_j / tl_j
        timeline = [EnergyInterval(iv.start, iv.end, iv.energy_j * scale) for iv in timeline]
    return timeline, change


def mean_intensity_g_per_kwh(
    operational_g: float, energy_kwh: float, records: Sequence[IntervalCarbon]
) -> float:
    """The reported I: energy-weighted (``operational_g / energy_kwh``); for a job of 0 kWh the
    time-weighted mean of the intervals' intensities instead."""
    if energy_kwh > 0:
        return operational_g / energy_kwh
    total_t = sum(r.duration_s for r in records)
    if total_t > 0:
        return sum(r.g_per_kwh * r.duration_s for r in records) / total_t
    return records[0].g_per_kwh if records else 0.0


def sci_per_unit(carbon_g: float, counts: Mapping[str, float]) -> dict[str, float | None]:
    """SCI = carbon / R for every functional unit; None where R is 0."""
    return {unit: (carbon_g / r if r > 0 else None) for unit, r in counts.items()}


def headline_unit(configured: str, sci_per: Mapping[str, float | None]) -> str:
    """The configured functional unit when its SCI exists, else ``"job"``."""
    return configured if sci_per.get(configured) is not None else "job"


@dataclass
class _Figures:
    """The numbers of one job's SCI, before the words that explain them."""

    duration_s: float
    operational_g: float
    intervals: list[IntervalCarbon]
    embodied: EmbodiedInputs
    embodied_g: float
    counts: dict[str, float]
    sci_per: dict[str, float | None]
    functional_unit: str
    mean_intensity_g_per_kwh: float


def _figures(
    energy: EnergyResult,
    intensity: IntensitySeries,
    settings: SciConfig,
    timeline: Sequence[EnergyInterval],
    work: WorkCounts | None,
) -> _Figures:
    """The arithmetic: E x I over the timeline, M, R per unit, SCI per unit, the headline."""
    duration_s = float(energy.duration_s)
    if duration_s <= 0:
        duration_s = max(0.0, (energy.ended_at - energy.started_at).total_seconds())
    default_i = settings.default_intensity_g_per_kwh
    operational, records = integrate_operational_g(
        timeline,
        intensity.points,
        pue=float(energy.pue),
        default_g_per_kwh=None if default_i is None else float(default_i),
    )
    emb = embodied_inputs(settings, tir_s=duration_s)
    m_g = 0.0
    if emb.in_scope and emb.te_kg is not None and emb.el_years is not None:
        m_g = embodied_g(emb.te_kg, duration_s, emb.el_years, emb.rr, emb.tor)
    counts = functional_unit_counts(energy, work)
    sci_per = sci_per_unit(operational + m_g, counts)
    return _Figures(
        duration_s=duration_s,
        operational_g=operational,
        intervals=records,
        embodied=emb,
        embodied_g=m_g,
        counts=counts,
        sci_per=sci_per,
        functional_unit=headline_unit(settings.functional_unit, sci_per),
        mean_intensity_g_per_kwh=mean_intensity_g_per_kwh(operational, energy.energy_kwh, records),
    )


def compute_sci(
    energy: EnergyResult,
    intensity: IntensitySeries,
    settings: SciConfig | Mapping[str, Any] | None,
    *,
    fallbacks_used: list[dict[str, Any]] | None = None,
    work: WorkCounts | None = None,
) -> SciResult:
    """The SCI of one training job.

    Args:
        energy: the job's measured/estimated energy with its timeline (PUE in ``energy.pue``).
        intensity: grid intensity points covering the run (gCO2e/kWh).
        settings: ``SciConfig`` (or a DictConfig / dict with the same keys, checked by
            ``coerce(SciConfig, settings, "sci")``).
        fallbacks_used: the carbon fallback chain's record (dicts with provider, reason,
            replaced_by); reported as-is.
        work: the job's FLOPs and parameters (``WorkCounter.work_counts()``), for the
            ``pflop`` and ``billion_parameters`` units; without it those are unavailable.

    Raises:
        ConfigError: a setting is invalid (the message names it).
        SciError: no intensity data and no default.
    """
    settings = coerce(SciConfig, settings, "sci")
    timeline, timeline_change = _prepare_timeline(energy)
    fig = _figures(energy, intensity, settings, timeline, work)
    fallbacks = [dict(f) for f in (fallbacks_used or [])]
    notes = [
        *timeline_notes(timeline_change, energy),
        *fill_notes(fig.intervals),
        *([ZERO_ENERGY_NOTE] if energy.energy_kwh <= 0 else []),
        *unavailable_unit_notes(fig.sci_per, epochs_known=energy.epochs is not None),
        *headline_unit_notes(settings.functional_unit, fig.sci_per, work_given=work is not None),
        *fallback_notes(fallbacks),
        *([FORECAST_NOTE] if intensity.kind == "forecast" else []),
    ]
    return _result(fig, energy, intensity, settings, fallbacks, notes, work)


def _result(
    fig: _Figures,
    energy: EnergyResult,
    intensity: IntensitySeries,
    settings: SciConfig,
    fallbacks: list[dict[str, Any]],
    notes: list[str],
    work: WorkCounts | None,
) -> SciResult:
    """The :class:`SciResult` of the figures, with the run's counts and the notes."""
    fu, price = fig.functional_unit, float(settings.price_per_hour_usd)
    inputs = SciInputs(
        energy_kwh=energy.energy_kwh,
        intensity_g_per_kwh=fig.mean_intensity_g_per_kwh,
        embodied_g=fig.embodied_g,
        r=fig.counts[fu],
        functional_unit=fu,
    )
    sci = fig.sci_per[fu]
    assert sci is not None  # headline_unit() picks a unit whose SCI exists ("job": R = 1)
    return SciResult(
        functional_unit=fu,
        sci=sci,
        sci_unit=FUNCTIONAL_UNITS[fu],
        sci_per=fig.sci_per,
        r_counts=fig.counts,
        inputs=inputs,
        energy_kwh=energy.energy_kwh,
        it_energy_kwh=energy.it_energy_j / J_PER_KWH,
        pue=float(energy.pue),
        operational_g=fig.operational_g,
        embodied_g=fig.embodied_g,
        mean_intensity_g_per_kwh=fig.mean_intensity_g_per_kwh,
        intervals=fig.intervals,
        intensity_source=intensity.source,
        intensity_region=intensity.region,
        signal_type=intensity.signal_type,
        intensity_kind=intensity.kind,
        fallbacks=fallbacks,
        embodied=fig.embodied,
        duration_s=fig.duration_s,
        cost_usd=fig.duration_s / 3600.0 * price,
        price_per_hour_usd=price,
        started_at=energy.started_at,
        ended_at=energy.ended_at,
        epochs=None if energy.epochs is None else float(energy.epochs),
        steps=int(energy.steps),
        images=int(energy.images),
        batches=int(energy.batches),
        energy_quality=_energy_quality(energy),
        notes=notes,
        intensity_notes=list(intensity.notes),
        work=work,
        disclosures=list(settings.disclosures),
        functional_unit_rationale=settings.functional_unit_rationale,
    )


__all__ = [
    "FUNCTIONAL_UNITS",
    "EmbodiedInputs",
    "IntervalCarbon",
    "SciError",
    "SciResult",
    "compute_sci",
    "embodied_g",
    "embodied_inputs",
    "headline_unit",
    "integrate_operational_g",
    "mean_intensity_g_per_kwh",
    "sci_per_unit",
]
