"""Hydra schema for the ``carbon/`` config group (owned by the intensity providers)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CarbonConfig:
    # static | trace | watttime | carbon_aware_sdk | electricity_maps | uk_grid
    provider: str = "static"
    region: str = "world"  # provider-specific region / zone / location name
    latitude: float | None = None
    longitude: float | None = None
    base_url: str | None = None  # None: the provider's public endpoint (carbon_aware_sdk requires one)
    signal_type: str | None = None  # None: the provider's default (watttime: co2_moer)
    timeout_s: float = 10.0
    retries: int = 3
    backoff_s: float = 0.5
    fallback: list[str] = field(default_factory=lambda: ["static"])
    # trace provider
    trace_path: str | None = None
    trace_column: str | None = None  # exact header, or "direct" / "lca" for Electricity Maps exports
    trace_time_offset_h: float | None = None  # shift every trace timestamp by this many hours
    trace_replay: bool = False  # repeat the trace cyclically (whole weeks) so any time, e.g. now, has a value
    # static provider: override the table's value for the region (gCO2e/kWh)
    static_g_per_kwh: float | None = None
    # fallback chain: after a provider fails, skip it for this long before trying it again
    fallback_cooldown_s: float = 300.0
