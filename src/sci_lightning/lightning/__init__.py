"""Lightning adapters: the energy callback, the timm classifier, TensorBoard layout, DDP helpers.

Everything Lightning-specific lives here; the measurement core (:mod:`sci_lightning.energy`),
the providers (:mod:`sci_lightning.carbon`) and the SCI arithmetic (:mod:`sci_lightning.sci`)
do not import Lightning.
"""

from sci_lightning.lightning.cli_types import register_if_available as _register_cli_types

_register_cli_types()  # LightningCLI reads the settings dataclasses through settings.coerce
