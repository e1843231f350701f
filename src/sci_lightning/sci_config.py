"""Hydra schemas for the ``sci/``, ``schedule/`` and ``compare`` settings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SciConfig:
    """Settings of the SCI score (GSF SCI v1.1, ISO/IEC 21031:2024): SCI = ((E x I) + M) per R.

    ``functional_unit`` picks the headline R; the report always gives all three.
    Embodied emissions M = TE x (TiR / EL) x (RR / ToR) are computed when TE and EL are
    both set (all-or-none); otherwise M = 0 and the report says M is out of scope.
    """

    functional_unit: str = "job"  # job | epoch | 1000_images
    price_per_hour_usd: float = 1.204  # the case study's NVIDIA T4 VM
    # Embodied emissions M = TE x (TiR / EL) x (RR / ToR); all None -> M = 0, "out of scope"
    embodied_total_kg: float | None = None  # TE, kgCO2e of the hardware
    lifespan_years: float | None = None  # EL
    resources_reserved: float = 1.0  # RR, e.g. GPUs reserved
    resources_total: float = 1.0  # ToR, e.g. GPUs in the machine
    # Optional (added by the SCI/report owner):
    embodied_source: str | None = None  # where TE / EL come from (cited in the report)
    # gCO2e/kWh used only when the intensity series has no points at all (recorded as a note)
    default_intensity_g_per_kwh: float | None = None
    # Free text describing the software boundary (None: the default boundary statement)
    boundary: str | None = None


@dataclass
class ScheduleConfig:
    """Carbon-aware time shifting (see sci_lightning.schedule and docs/carbon_aware.md)."""

    mode: str = "none"  # none | report | wait | slurm
    duration: str | None = None  # "2h", "90m", "5400s"; None: from a previous report or the first epoch
    window_h: float = 24.0  # plan within [now, now + window_h]; the job must finish inside it
    max_wait: str = "24h"  # wait mode: never wait longer than this
    replan_every: str = "30m"  # wait mode: fetch the forecast again this often; adopt it when fresher
    log_every: str = "10m"  # wait mode without a terminal: a countdown log line this often
    align: str = "points"  # points: candidate starts on forecast point starts | window_start: the SDK's grid


@dataclass
class CompareConfig:
    """Model comparison at the end of a multirun (see docs/comparison.md)."""

    baseline: str | None = None  # model name (e.g. densenet); None: the first job
    charts: bool = True  # write the comparison*.png bar charts
    enabled: bool = True  # False: no comparison files at the end of a multirun
