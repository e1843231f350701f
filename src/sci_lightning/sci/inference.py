"""Consumer SCI (SCI for AI §6.1, §8.1): energy per inference and SCI per 1,000 inferences.

Plain arithmetic on a stage's figures, so any inference loop can use it: a Lightning
``test``/``predict`` stage record (its ``energy_kwh``, ``duration_s`` and ``samples``), or
an :class:`~sci_lightning.energy.monitor.EnergyMonitor` window around your own loop
(:func:`measure_inference` does that for you)::

    SCI per 1,000 inferences = ((E x I) + M) / samples x 1000

- **E** the stage's facility energy (IT energy x PUE), kWh;
- **I** the grid intensity while it ran, gCO2e/kWh (e.g. the run's energy-weighted mean);
- **M** the embodied share of the hardware for the stage's duration,
  ``TE x (TiR / EL) x (RR / ToR)`` with TiR = the stage's duration (0 when no TE/EL is set).

The result is an :class:`InferenceFigures` record, the ``inference`` block of the report.
:class:`~sci_lightning.lightning.callback.EnergyCarbonCallback` makes one at the end of every
``test`` and ``predict`` stage with :func:`inference_for_stage`: I is the time-weighted grid
intensity over the stage's own window (:func:`window_intensity_g_per_kwh`), M comes from the
``sci`` settings for the stage's duration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

from typing_extensions import Unpack

from sci_lightning.energy.base import EnergyInterval
from sci_lightning.sci.codec import report_field
from sci_lightning.sci.compute import embodied_g, embodied_inputs, integrate_operational_g

if TYPE_CHECKING:
    from sci_lightning.carbon.base import IntensityPoint
    from sci_lightning.energy.monitor import EnergyMonitor
    from sci_lightning.settings import SciConfig

__all__ = [
    "InferenceFigures",
    "inference_for_report",
    "inference_for_stage",
    "inference_sci",
    "measure_inference",
    "window_intensity_g_per_kwh",
]


class _EmbodiedTerms(Protocol):
    @property
    def in_scope(self) -> bool: ...
    @property
    def te_kg(self) -> float | None: ...
    @property
    def el_years(self) -> float | None: ...
    @property
    def rr(self) -> float: ...
    @property
    def tor(self) -> float: ...


class _EmbodiedSettings(TypedDict, total=False):
    """The embodied settings :func:`measure_inference` passes on to :func:`inference_sci`."""

    te_kg: float | None
    el_years: float | None
    rr: float
    tor: float


class _MeanIntensity(Protocol):
    @property
    def mean_g_per_kwh(self) -> float | None: ...


class _JobFigures(Protocol):
    """What :func:`inference_for_report` reads of a :class:`~sci_lightning.sci.report.SciReport`
    (named by its shape: the report module imports this one for :class:`InferenceFigures`)."""

    @property
    def embodied(self) -> _EmbodiedTerms | None: ...
    @property
    def intensity(self) -> _MeanIntensity: ...


#: Consumer SCI is stated per this many inferences (one image classified = one inference).
PER_INFERENCES = 1000
J_PER_KWH = 3.6e6


@dataclass(kw_only=True)
class InferenceFigures:
    """Consumer SCI of one inference stage (test, predict or your own loop): per-sample energy
    and SCI per 1,000 inferences, operational and embodied shares, with how E was obtained."""

    stage: str = report_field(doc="test | predict | a name for your own loop")
    samples: int = report_field(doc="inferences (images classified) in the window")
    energy_kwh: float = report_field(doc="E, facility energy of the window (IT x PUE), kWh")
    duration_s: float = report_field(doc="the window's duration, s")
    energy_per_sample_kwh: float | None = report_field(doc="E / samples, kWh")
    intensity_g_per_kwh: float | None = report_field(doc="I used, gCO2e/kWh")
    operational_g: float | None = report_field(doc="E x I, gCO2e")
    embodied_g: float = report_field(0.0, doc="M for the window's duration, gCO2e (0: out of scope)")
    operational_per_1000_g: float | None = report_field(None, doc="E x I / samples x 1000, gCO2e")
    embodied_per_1000_g: float | None = report_field(None, doc="M / samples x 1000, gCO2e")
    sci_per_1000_g: float | None = report_field(
        None, doc="((E x I) + M) / samples x 1000, gCO2e/1000 inferences"
    )
    quality: str | None = report_field(None, doc="measured | estimated | mixed (the energy's)")
    method: str | None = report_field(None, doc="how E was obtained")
    intensity_source: str | None = report_field(
        None,
        omit_if_default=True,
        doc="where I came from (provider, region, the window it covers, fallbacks)",
    )
    notes: list[str] = report_field(factory=list)


def _per_1000(grams: float | None, samples: int) -> float | None:
    return None if grams is None or samples <= 0 else grams / samples * PER_INFERENCES


def inference_sci(
    *,
    energy_kwh: float,
    duration_s: float,
    samples: int,
    intensity_g_per_kwh: float | None,
    stage: str = "predict",
    te_kg: float | None = None,
    el_years: float | None = None,
    rr: float = 1.0,
    tor: float = 1.0,
    quality: str | None = None,
    method: str | None = None,
) -> InferenceFigures:
    """The Consumer SCI of one inference window (pure; see the module docstring).

    Args:
        energy_kwh: facility energy of the window (a stage record's ``energy_kwh``), kWh.
        duration_s: the window's duration (TiR of the embodied share), s.
        samples: inferences in the window; 0 gives no per-sample figures (with a note).
        intensity_g_per_kwh: I; ``None`` gives no operational figures (with a note).
        te_kg, el_years, rr, tor: the embodied settings (``SciReport.embodied``); M = 0 without TE/EL.
        quality, method: how the energy was obtained (stated with the figures).
    """
    if energy_kwh < 0 or duration_s < 0 or samples < 0:
        raise ValueError(
            f"inference_sci needs non-negative figures, got energy_kwh={energy_kwh}, "
            f"duration_s={duration_s}, samples={samples}"
        )
    notes: list[str] = []
    operational = None if intensity_g_per_kwh is None else energy_kwh * intensity_g_per_kwh
    if operational is None:
        notes.append("no grid intensity: operational emissions and SCI not computed")
    in_scope = te_kg is not None and el_years is not None
    embodied = embodied_g(te_kg, duration_s, el_years, rr, tor) if in_scope else 0.0  # type: ignore[arg-type]
    if not in_scope:
        notes.append("embodied emissions out of scope (no TE / EL configured): M = 0")
    if samples == 0:
        notes.append("no samples in the window: no per-inference figures")
    total = None if operational is None else operational + embodied
    return InferenceFigures(
        stage=stage,
        samples=samples,
        energy_kwh=energy_kwh,
        duration_s=duration_s,
        energy_per_sample_kwh=energy_kwh / samples if samples else None,
        intensity_g_per_kwh=intensity_g_per_kwh,
        operational_g=operational,
        embodied_g=embodied,
        operational_per_1000_g=_per_1000(operational, samples),
        embodied_per_1000_g=_per_1000(embodied, samples),
        sci_per_1000_g=_per_1000(total, samples),
        quality=quality,
        method=method,
        notes=notes,
    )


def inference_for_report(
    report: _JobFigures,
    *,
    stage: str,
    energy_kwh: float,
    duration_s: float,
    samples: int,
    quality: str | None = None,
    method: str | None = None,
) -> InferenceFigures:
    """:func:`inference_sci` of one stage of a job, with the job's intensity (its energy-weighted
    mean I) and its embodied settings (TE, EL, RR, ToR when M is in scope): the call a
    test/predict stage record's ``energy_kwh``, ``duration_s`` and ``samples`` go into."""
    e = report.embodied
    embodied: dict[str, Any] = {}
    if e is not None and e.in_scope:
        embodied = {"te_kg": e.te_kg, "el_years": e.el_years, "rr": e.rr, "tor": e.tor}
    return inference_sci(
        energy_kwh=energy_kwh,
        duration_s=duration_s,
        samples=samples,
        intensity_g_per_kwh=report.intensity.mean_g_per_kwh,
        stage=stage,
        quality=quality,
        method=method,
        **embodied,
    )


def measure_inference(
    monitor: EnergyMonitor,
    batches: Iterable[Any],
    infer: Callable[[Any], Any],
    *,
    intensity_g_per_kwh: float | None,
    pue: float = 1.0,
    stage: str = "inference",
    count: Callable[[Any], int] = len,
    **embodied: Unpack[_EmbodiedSettings],
) -> InferenceFigures:
    """Run ``infer`` on every batch inside one EnergyMonitor window and give its Consumer SCI.

    ``count(batch)`` is the number of inferences in a batch (default ``len``); ``pue`` turns
    the window's IT energy into facility energy; ``embodied`` takes ``te_kg``, ``el_years``,
    ``rr``, ``tor`` as :func:`inference_sci` does.
    """
    samples = 0
    monitor.begin_window(stage)
    try:
        for batch in batches:
            infer(batch)
            samples += int(count(batch))
    finally:
        result = monitor.end_window(stage)
    qualities = {c.quality for c in result.components}
    quality = qualities.pop() if len(qualities) == 1 else ("mixed" if qualities else None)
    methods = ", ".join(sorted({f"{c.component}: {c.method}" for c in result.components})) or None
    return inference_sci(
        energy_kwh=result.energy_j / J_PER_KWH * pue,
        duration_s=result.duration_s,
        samples=samples,
        intensity_g_per_kwh=intensity_g_per_kwh,
        stage=stage,
        quality=quality,
        method=methods,
        **embodied,
    )


def window_intensity_g_per_kwh(
    points: Sequence[IntensityPoint],
    started_at: datetime,
    ended_at: datetime,
    default_g_per_kwh: float | None = None,
) -> tuple[float, str | None]:
    """The time-weighted grid intensity over ``[started_at, ended_at]`` and how gaps were filled.

    The same integration as the job's SCI (:func:`~sci_lightning.sci.compute.integrate_operational_g`)
    on one interval: seconds no point covers take the nearest point (or ``default_g_per_kwh``
    when there are none). Returns ``(g_per_kwh, fill)``, ``fill`` ``None`` | ``nearest`` | ``default``.
    """
    _, (record,) = integrate_operational_g(
        [EnergyInterval(started_at, ended_at, 0.0)], points, default_g_per_kwh=default_g_per_kwh
    )
    return record.g_per_kwh, record.fill


def inference_for_stage(
    *,
    stage: str,
    energy_kwh: float,
    duration_s: float,
    samples: int,
    intensity_g_per_kwh: float | None,
    sci: SciConfig,
    intensity_source: str | None = None,
    quality: str | None = None,
    method: str | None = None,
) -> InferenceFigures:
    """:func:`inference_sci` of one measured stage (a test/predict stage record's ``energy_kwh``,
    ``duration_s`` and ``samples``), M from the ``sci`` settings for the stage's duration."""
    e = embodied_inputs(sci, tir_s=duration_s)
    embodied: dict[str, Any] = {}
    if e.in_scope:
        embodied = {"te_kg": e.te_kg, "el_years": e.el_years, "rr": e.rr, "tor": e.tor}
    fig = inference_sci(
        energy_kwh=energy_kwh,
        duration_s=duration_s,
        samples=samples,
        intensity_g_per_kwh=intensity_g_per_kwh,
        stage=stage,
        quality=quality,
        method=method,
        **embodied,
    )
    fig.intensity_source = intensity_source
    return fig
