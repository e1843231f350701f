"""Grid carbon-intensity providers behind one interface (:class:`IntensityProvider`).

Pick one with the ``carbon`` config group and build it with :func:`build_provider`::

    provider = build_provider(cfg.carbon)           # FallbackProvider if cfg.carbon.fallback differs
    series = provider.history(start, end)           # IntensitySeries of gCO2e/kWh, UTC

Providers (``carbon.provider``):

=================  ===========================================================  ==========
name               what                                                           signal
=================  ===========================================================  ==========
static             Ember annual averages, 209 countries (offline default)         average
trace              a CSV trace (e.g. Electricity Maps data-portal export)         as given
watttime           WattTime API v3 (WATTTIME_USERNAME / WATTTIME_PASSWORD)        marginal
carbon_aware_sdk   GSF Carbon Aware SDK WebAPI you host (carbon.base_url)         configured
electricity_maps   Electricity Maps API v3 (ELECTRICITYMAPS_TOKEN)                average
uk_grid            GB Carbon Intensity API (National Energy System Operator)      average
=================  ===========================================================  ==========

Provider classes are imported lazily from :data:`PROVIDERS` ("module:Class", defined once in
:mod:`sci_lightning.settings`, which validates ``carbon.provider`` against it), so a missing
optional module only matters when it is selected. Each class has
``from_config(cfg) -> provider``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._lazy import lazy_getattr
from ..errors import ConfigError
from ..settings import PROVIDERS, CarbonConfig, coerce, setting_error
from .base import (
    LBS_PER_MWH_TO_G_PER_KWH,
    IntensityPoint,
    IntensityProvider,
    IntensitySeries,
    ProviderError,
    ensure_utc,
)
from .chain import FallbackProvider, ProviderFallbackWarning

if TYPE_CHECKING:  # for type checkers / IDEs; at run time these load lazily via __getattr__
    from .carbon_aware_sdk import CarbonAwareSdkProvider
    from .electricity_maps import ElectricityMapsProvider
    from .static import StaticProvider
    from .trace import TraceProvider
    from .uk_grid import UkGridProvider
    from .watttime import WattTimeProvider

__all__ = [
    "LBS_PER_MWH_TO_G_PER_KWH",
    "PROVIDERS",
    "CarbonAwareSdkProvider",
    "ElectricityMapsProvider",
    "FallbackProvider",
    "IntensityPoint",
    "IntensityProvider",
    "IntensitySeries",
    "ProviderError",
    "ProviderFallbackWarning",
    "StaticProvider",
    "TraceProvider",
    "UkGridProvider",
    "WattTimeProvider",
    "build_provider",
    "build_single",
    "ensure_utc",
    "missing_credentials",
    "provider_class",
    "require_credentials",
]

#: What the builders accept as the ``carbon`` settings: the dataclass, or a mapping of its fields
#: (a dict, an OmegaConf node), checked by :func:`~sci_lightning.settings.coerce`.
CarbonSettings = CarbonConfig | Mapping[str, Any]

# PROVIDERS (name -> "module:Class") lives in settings/providers.py, the one registry that both the
# settings' validation and provider_class() read.


def provider_class(name: str) -> type[IntensityProvider]:
    """The class registered under ``name``; ConfigError naming the valid choices otherwise."""
    key = (name or "").strip().lower()
    if key not in PROVIDERS:
        raise ConfigError(f"carbon.provider={name!r} is unknown; choose one of: {', '.join(PROVIDERS)}.")
    module_name, _, cls_name = PROVIDERS[key].partition(":")
    try:
        module = importlib.import_module(module_name, __name__)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"carbon.provider={key!r} is not available in this installation ({exc}); choose another provider."
        ) from None
    return getattr(module, cls_name)


def build_single(name: str, cfg: CarbonSettings) -> IntensityProvider:
    """Build the provider ``name`` from the ``carbon`` config (its ``from_config`` classmethod)."""
    cfg = coerce(CarbonConfig, cfg, "carbon")
    cls = provider_class(name)
    from_config = getattr(cls, "from_config", None)
    if from_config is None:
        raise ConfigError(
            f"provider class {cls.__name__} has no from_config(cfg); it cannot be built from config."
        )
    return from_config(cfg)


def build_provider(cfg: CarbonSettings) -> IntensityProvider:
    """Build the configured provider; wrap it in a :class:`FallbackProvider` when
    ``cfg.fallback`` names providers other than the primary.

    ``cfg`` is a :class:`CarbonConfig`, a plain dict of its settings or an OmegaConf node,
    checked by :func:`sci_lightning.settings.coerce` (a misspelt key or an unknown provider is
    refused, never replaced by a default). Config mistakes
    (unknown name, missing base_url/trace_path, bad signal_type) raise :class:`ConfigError`
    at once. A *fallback* that cannot be built from the same config (e.g. ``trace``
    without ``trace_path``) also raises, because a chain that cannot fall back is a
    silent trap. Credentials are checked lazily (first request), so a missing
    environment variable makes the primary fail over at run time, recorded in
    ``fallbacks_used``, instead of stopping the run.
    """
    cfg = coerce(CarbonConfig, cfg, "carbon")
    primary_name = cfg.provider.strip().lower()
    fallback_names: list[str] = []
    for n in cfg.fallback:
        key = str(n).strip().lower()
        if key and key != primary_name and key not in fallback_names:
            fallback_names.append(key)
    providers: list[IntensityProvider] = []
    try:
        providers.append(build_single(primary_name, cfg))
    except ProviderError as exc:
        if not fallback_names:
            raise
        providers.append(_Unavailable(primary_name, exc))
    for n in fallback_names:
        providers.append(build_single(n, cfg))
    if len(providers) == 1:
        return providers[0]
    return FallbackProvider(providers, cooldown_s=cfg.fallback_cooldown_s)


def missing_credentials(cfg: CarbonSettings) -> list[str]:
    """The credential environment variables the configured primary provider needs and lacks."""
    import os

    cfg = coerce(CarbonConfig, cfg, "carbon")
    needed = getattr(provider_class(cfg.provider), "CREDENTIAL_ENV", ())
    return [name for name in needed if not os.environ.get(name)]


def require_credentials(cfg: CarbonSettings) -> None:
    """Refuse, before any work, a provider whose credentials are not in the environment.

    Raises:
        ConfigError: naming the variables and how to choose a provider that needs none.
    """
    missing = missing_credentials(cfg)
    if not missing:
        return
    cfg = coerce(CarbonConfig, cfg, "carbon")
    raise setting_error(
        "carbon.provider",
        cfg.provider,
        f"needs credentials in the environment variable(s) {' and '.join(missing)}, which are not set",
        f"Export {' and '.join(missing)} in the shell that runs the job (never put them in a config file), "
        "or choose a provider that needs none: carbon=static, carbon=uk_grid, or carbon=trace carbon.trace_path=FILE.",
    )


class _Unavailable(IntensityProvider):
    """Stands in for a primary that could not even be constructed (e.g. missing token env
    var raised in its constructor), so the chain records it and falls back."""

    def __init__(self, name: str, error: ProviderError):
        self.name = name
        self.error = error
        self.region = ""

    def __repr__(self) -> str:
        return f"<unavailable provider {self.name!r}>"

    def history(self, start, end):  # type: ignore[override]
        raise self.error

    def forecast(self, start=None, horizon=None):  # type: ignore[override]
        raise self.error

    def current(self):  # type: ignore[override]
        raise self.error


# ``from sci_lightning.carbon import WattTimeProvider`` loads that provider's module only
__getattr__ = lazy_getattr(__name__, {target.split(":")[1]: target for target in PROVIDERS.values()})
