"""Fixtures of the sci/ unit tests: a small SCI result (one 30-minute interval, 1 kWh, 200 g/kWh)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from sci_lightning.carbon.base import IntensityPoint, IntensitySeries
from sci_lightning.energy.base import ComponentEnergy, EnergyInterval, EnergyResult
from sci_lightning.sci.compute import SciResult, compute_sci
from sci_lightning.settings import SciConfig

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _small_run(**sci: object) -> tuple[SciResult, EnergyResult]:
    tl = [EnergyInterval(T0, T0 + timedelta(minutes=30), 3.6e6)]
    energy = EnergyResult(
        started_at=T0,
        ended_at=tl[-1].end,
        duration_s=1800,
        components=[ComponentEnergy("gpu", "g", 3.6e6, "nvml_energy_counter", "measured")],
        timeline=tl,
        epochs=2,
        images=4000,
    )
    series = IntensitySeries(
        [IntensityPoint(T0, T0 + timedelta(hours=1), 200.0)], "s", "DE", "average", "measured"
    )
    return compute_sci(energy, series, SciConfig(**sci)), energy  # type: ignore[arg-type]


@pytest.fixture
def small_run() -> Callable[..., tuple[SciResult, EnergyResult]]:
    """``small_run(**sci_settings)`` -> ``(SciResult, EnergyResult)`` of one small job."""
    return _small_run
