"""Checks of a run's settings that need no torch, run before torch and Lightning are imported.

A misspelt key is refused by Hydra while it composes the config, in about a second. A value
that cannot work should be refused as fast: :func:`preflight` types the settings
(:func:`sci_lightning.settings.coerce`: ranges, choices) and checks the image size of the
shipped models against :data:`MIN_IMAGE_PX` before the app imports torch (about 10 s on a
loaded CPU). Other timm models are checked by probing the network
(:func:`sci_lightning.lightning.classifier.check_image_size`) once torch is imported.
"""

from __future__ import annotations

from typing import Any

from sci_lightning.errors import ConfigError
from sci_lightning.settings import Config, coerce

__all__ = ["MIN_IMAGE_PX", "RUN_LOCK_TARGET", "image_size_error", "preflight"]

#: The lock that makes one process the owner of a run folder (``<run folder>/.run.lock``); here so
#: that the entry point removes a refused run's folder without importing the run's builders.
RUN_LOCK_TARGET = "run"

#: The smallest square input (px) each shipped model (``conf/model/*.yaml``) accepts, found by
#: :func:`sci_lightning.lightning.classifier.smallest_image_size` (a test recomputes each).
MIN_IMAGE_PX: dict[str, int] = {
    "inception_v3": 75,
    "densenet121": 29,
    "densenet169": 29,
}


def image_size_error(model_name: str, image_size: int, minimum: int | None) -> ConfigError:
    """The refusal of ``model.image_size`` too small for ``model_name`` (``minimum``: its smallest size)."""
    need = f"at least {minimum} px" if minimum else "a larger size"
    return ConfigError(
        f"Invalid setting model.image_size={image_size}: {model_name} needs {need} "
        f"(its stride and pooling shrink smaller inputs to nothing). Set model.image_size={minimum or 224} or more."
    )


def preflight(cfg: Any) -> Config:
    """The typed settings of ``cfg``; raises :class:`ConfigError` for a value that cannot work."""
    settings = coerce(Config, cfg)
    minimum = MIN_IMAGE_PX.get(settings.model.name)
    if minimum is not None and settings.model.image_size < minimum:
        raise image_size_error(settings.model.name, settings.model.image_size, minimum)
    return settings
