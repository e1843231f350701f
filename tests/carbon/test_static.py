"""StaticProvider: the offline table of yearly grid intensities (sci_lightning.carbon.static)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sci_lightning.carbon.static import (
    STATIC_TABLE,
    STATIC_YEARS,
    WORLD_G_PER_KWH,
    StaticProvider,
    lookup_static,
)
from sci_lightning.errors import ConfigError
from sci_lightning.settings import CarbonConfig

UTC = timezone.utc


def t(h: float, day: int = 1) -> datetime:
    return datetime(2023, 3, day, tzinfo=UTC) + timedelta(hours=h)


def test_static_table_values_and_labels():
    p = StaticProvider("DE")
    s = p.history(t(0.5), t(3))
    assert s.kind == "static" and s.signal_type == "average"
    assert [pt.g_per_kwh for pt in s.points] == [STATIC_TABLE["DE"][1]] * 3
    assert (s.points[0].start, s.points[0].end, s.points[-1].end) == (
        t(0.5),
        t(1),
        t(3),
    )  # contiguous, clipped
    assert "Ember" in s.source and f"Germany {STATIC_YEARS['DE']}:" in s.notes[0]
    assert any("Germany" in n for n in s.notes)


def test_static_lookup_variants():
    assert lookup_static("fr").g_per_kwh == STATIC_TABLE["FR"][1]
    assert lookup_static("France").code == "FR"
    assert lookup_static("DE-50HZ").code == "DE"
    w = lookup_static("world")
    assert w.matched and w.g_per_kwh == WORLD_G_PER_KWH == 472.9
    unknown = lookup_static("CAISO_NORTH")
    assert not unknown.matched and unknown.g_per_kwh == WORLD_G_PER_KWH
    assert all(0 <= v < 1500 for _, v in STATIC_TABLE.values()) and len(STATIC_TABLE) > 200
    for code in (
        "GB",
        "US",
        "JP",
        "ES",
        "IT",
        "NL",
        "DE",
        "FR",
        "IN",
        "CN",
    ):  # every large grid is in the table
        assert lookup_static(code).matched and 2022 <= STATIC_YEARS[code] <= 2024, code
    assert lookup_static("UK").code == "GB" and lookup_static("United Kingdom").code == "GB"


def test_static_unknown_region_says_world_default():
    s = StaticProvider("Atlantis").forecast(t(0), timedelta(hours=2))
    assert s.points[0].g_per_kwh == WORLD_G_PER_KWH
    assert any("not in the static table" in n for n in s.notes)


def test_static_override():
    p = StaticProvider.from_config(CarbonConfig(region="DE", static_g_per_kwh=123.4))
    s = p.history(t(0), t(1))
    assert s.points[0].g_per_kwh == 123.4 and "user-supplied" in s.source and s.kind == "static"
    with pytest.raises(ConfigError, match="static_g_per_kwh"):
        StaticProvider("DE", g_per_kwh=-1)
    with pytest.raises(ConfigError):
        StaticProvider("DE", g_per_kwh=float("nan"))


def test_static_requires_aware_times():
    with pytest.raises(ValueError, match="timezone"):
        StaticProvider().history(datetime(2023, 1, 1), datetime(2023, 1, 2))
