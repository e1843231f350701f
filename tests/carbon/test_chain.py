"""FallbackProvider and build_provider: the primary fails, the chain falls back, warns once, records why."""

from __future__ import annotations

import logging
import warnings
from datetime import datetime, timedelta, timezone

import pytest
from clocks import ScriptClock, Sleeps
from stub_server import closed_port_url

from sci_lightning.carbon import (
    FallbackProvider,
    ProviderFallbackWarning,
    build_provider,
    provider_class,
)
from sci_lightning.carbon.base import IntensityPoint, IntensityProvider, IntensitySeries, ProviderError
from sci_lightning.carbon.static import WORLD_G_PER_KWH, StaticProvider, lookup_static
from sci_lightning.carbon.watttime import WattTimeProvider
from sci_lightning.errors import ConfigError
from sci_lightning.settings import CarbonConfig

T0 = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
T1 = T0 + timedelta(hours=2)
SECRET = "Very-Secret-Password-123"


class Flaky(IntensityProvider):
    """Fails ``fails`` times with a ProviderError, then serves a constant value."""

    name = "flaky"

    def __init__(self, fails: int = 10**9, value: float = 100.0, empty: bool = False):
        self.fails, self.value, self.empty, self.calls = fails, value, empty, 0

    def _series(self, start, end, kind):
        self.calls += 1
        if self.calls <= self.fails:
            raise ProviderError(self.name, "service down.", "wait.")
        pts = [] if self.empty else [IntensityPoint(start, end, self.value)]
        return IntensitySeries(pts, "flaky", "X", "marginal", kind)

    def history(self, start, end):
        return self._series(start, end, "measured")

    def forecast(self, start=None, horizon=timedelta(hours=24)):
        return self._series(start or T0, (start or T0) + horizon, "forecast")


@pytest.fixture
def wt_down(monkeypatch):
    """A WattTime provider whose API is down: connection refused on a closed loopback port."""
    monkeypatch.setenv("WATTTIME_USERNAME", "bob")
    monkeypatch.setenv("WATTTIME_PASSWORD", SECRET)
    sleeps = Sleeps()
    return WattTimeProvider(
        "CAISO_NORTH", base_url=closed_port_url(), retries=1, backoff_s=0.1, sleep=sleeps
    ), sleeps


def test_primary_down_falls_back_and_records(wt_down):
    wt, sleeps = wt_down
    chain = FallbackProvider([wt, StaticProvider("DE")], clock=ScriptClock(1000.0))
    with pytest.warns(ProviderFallbackWarning, match="watttime"):
        s = chain.history(T0, T1)
    assert s.kind == "fallback"
    assert [p.g_per_kwh for p in s.points] == [lookup_static("DE").g_per_kwh] * 2
    assert "static" in s.source
    assert "watttime" in s.notes[0] and "its kind: static" in s.notes[0]
    assert len(chain.fallbacks_used) == 1
    rec = chain.fallbacks_used[0]
    assert rec["provider"] == "watttime" and rec["replaced_by"] == "static" and rec["method"] == "history"
    assert "could not connect" in rec["reason"] and rec["count"] == 1
    assert sleeps == [0.1]  # one retry, injected sleep
    # the secret never leaks into what the chain records or raises
    assert (
        SECRET not in repr(chain)
        and SECRET not in str(chain.fallbacks_used)
        and SECRET not in " ".join(s.notes)
    )


def test_warns_only_once_and_counts(wt_down):
    wt, _ = wt_down
    clock = ScriptClock(1000.0)
    chain = FallbackProvider([wt, StaticProvider("FR")], cooldown_s=0, clock=clock)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            chain.history(T0, T1)
    assert sum(issubclass(w.category, ProviderFallbackWarning) for w in caught) == 1
    assert chain.fallbacks_used[0]["count"] == 3 and len(chain.fallbacks_used) == 1


def test_the_fallback_is_said_once_not_also_logged_on_the_console(wt_down, caplog):
    """An app whose log prints INFO and up (Hydra's) shows the warning, not a log line beside it."""
    wt, _ = wt_down
    chain = FallbackProvider([wt, StaticProvider("FR")], cooldown_s=0, clock=ScriptClock(1000.0))
    with caplog.at_level(logging.DEBUG), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chain.history(T0, T1)
    assert sum(issubclass(w.category, ProviderFallbackWarning) for w in caught) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.INFO and "failed" in r.getMessage()]
    assert any("watttime" in r.getMessage() for r in caplog.records)  # kept for debugging


def test_cooldown_skips_failed_primary_then_retries():
    clock = ScriptClock(1000.0)
    flaky = Flaky(fails=1)
    chain = FallbackProvider([flaky, StaticProvider("SE")], cooldown_s=60, clock=clock)
    with pytest.warns(ProviderFallbackWarning):
        assert chain.history(T0, T1).kind == "fallback"
    assert chain.served_by() == "static"
    s = chain.history(T0, T1)  # within cooldown: primary not called again
    assert flaky.calls == 1 and s.kind == "fallback" and "skipped" in chain.fallbacks_used[-1]["reason"]
    clock.advance(61)
    s = chain.history(T0, T1)  # cooled down: primary tried again and now works
    assert flaky.calls == 2 and s.kind == "measured" and s.points[0].g_per_kwh == 100.0
    assert chain.served_by() == "flaky"


def test_primary_ok_is_untouched():
    chain = FallbackProvider([Flaky(fails=0), StaticProvider()])
    s = chain.forecast(T0, timedelta(hours=1))
    assert s.kind == "forecast" and chain.fallbacks_used == []


def test_empty_series_falls_back_but_last_empty_is_returned():
    chain = FallbackProvider([Flaky(fails=0, empty=True), StaticProvider("PL")], clock=ScriptClock(1000.0))
    with pytest.warns(ProviderFallbackWarning, match="no history points"):
        s = chain.history(T0, T1)
    assert s.kind == "fallback" and s.points[0].g_per_kwh == lookup_static("PL").g_per_kwh
    only = FallbackProvider([StaticProvider("PL"), Flaky(fails=0, empty=True)])
    assert only.history(T0, T1).kind == "static"


def test_all_fail_raises_with_every_reason():
    chain = FallbackProvider([Flaky(), Flaky()], cooldown_s=0)
    with pytest.warns(ProviderFallbackWarning), pytest.raises(ProviderError) as ei:
        chain.history(T0, T1)
    assert str(ei.value).count("service down") == 2 and "carbon.fallback" in str(ei.value)


def test_current_falls_back(wt_down):
    wt, _ = wt_down
    chain = FallbackProvider([wt, StaticProvider("NO")], clock=ScriptClock(1000.0))
    with pytest.warns(ProviderFallbackWarning):
        assert chain.current().g_per_kwh == lookup_static("NO").g_per_kwh
    assert chain.fallbacks_used[0]["method"] == "current"


# ----------------------------------------------------------------------------- build_provider


def test_build_static_default_is_single():
    p = build_provider(CarbonConfig())
    assert isinstance(p, StaticProvider) and p.g_per_kwh == WORLD_G_PER_KWH
    p = build_provider(CarbonConfig(provider="static", fallback=["static"]))
    assert isinstance(p, StaticProvider)  # fallback equal to the primary: no chain


def test_build_watttime_with_fallback_chain(monkeypatch):
    monkeypatch.delenv("WATTTIME_USERNAME", raising=False)
    monkeypatch.delenv("WATTTIME_PASSWORD", raising=False)
    cfg = CarbonConfig(
        provider="watttime", region="CAISO_NORTH", base_url=closed_port_url(), fallback=["static"]
    )
    p = build_provider(cfg)
    assert isinstance(p, FallbackProvider)
    assert [type(x).__name__ for x in p.providers] == ["WattTimeProvider", "StaticProvider"]
    assert p.signal_type == "marginal" and p.region == "CAISO_NORTH"
    with pytest.warns(ProviderFallbackWarning, match="WATTTIME_USERNAME"):
        s = p.history(T0, T1)  # missing credentials: falls back, no network touched
    assert s.kind == "fallback" and "WATTTIME_PASSWORD" in p.fallbacks_used[0]["reason"]


def test_build_with_omegaconf_node():
    from omegaconf import OmegaConf

    node = OmegaConf.structured(CarbonConfig(provider="static", region="IN"))
    assert build_provider(node).g_per_kwh == lookup_static("IN").g_per_kwh


def test_build_errors():
    with pytest.raises(ConfigError, match="Choose one of"):
        build_provider(CarbonConfig(provider="nope"))
    with pytest.raises(ConfigError, match="base_url is required"):
        build_provider(CarbonConfig(provider="carbon_aware_sdk", region="westus"))
    with pytest.raises(ConfigError, match="trace_path"):
        build_provider(CarbonConfig(provider="static", fallback=["trace"]))


def test_registry_lazy_import():
    assert provider_class("watttime") is WattTimeProvider
    from sci_lightning import carbon

    assert carbon.StaticProvider is StaticProvider
    with pytest.raises(AttributeError):
        carbon.NoSuchThing  # noqa: B018


def test_build_carbon_aware_sdk_down_falls_back():
    cfg = CarbonConfig(
        provider="carbon_aware_sdk",
        region="westus",
        base_url=closed_port_url(),
        retries=0,
        fallback=["static"],
    )
    p = build_provider(cfg)
    with pytest.warns(ProviderFallbackWarning, match="carbon_aware_sdk"):
        s = p.forecast(T0, timedelta(hours=3))
    assert s.kind == "fallback" and len(s.points) == 3
