"""The one registry of grid carbon-intensity providers (``carbon.provider`` names).

``carbon.provider`` and ``carbon.fallback`` are checked against :data:`PROVIDERS`, and
:func:`sci_lightning.carbon.provider_class` builds a provider from it, so a provider's name
is written here once. Each provider class states the same name as its ``name`` attribute
(the label of its errors and records); ``tests/settings/test_providers.py`` holds the two
to each other.
"""

from __future__ import annotations

__all__ = ["PROVIDERS", "PROVIDER_NAMES"]

#: The registry of intensity providers: ``carbon.provider`` name -> ``"module:Class"``
#: (module relative to :mod:`sci_lightning.carbon`, imported only when selected). Settings
#: validate against it and :func:`sci_lightning.carbon.provider_class` builds from it; a new
#: provider is one class (an :class:`~sci_lightning.carbon.http.HttpProvider` for an HTTP
#: API) plus its line here.
PROVIDERS: dict[str, str] = {
    "static": ".static:StaticProvider",
    "trace": ".trace:TraceProvider",
    "watttime": ".watttime:WattTimeProvider",
    "carbon_aware_sdk": ".carbon_aware_sdk:CarbonAwareSdkProvider",
    "electricity_maps": ".electricity_maps:ElectricityMapsProvider",
    "uk_grid": ".uk_grid:UkGridProvider",
}
PROVIDER_NAMES = tuple(PROVIDERS)
