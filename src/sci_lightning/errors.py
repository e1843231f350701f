"""User-facing errors: each message says what is wrong and how to fix it.

The CLI prints these without a traceback and exits with status 2.
"""


class SciLightningError(Exception):
    """Base class of errors that are the user's to fix (configuration, data, credentials)."""


class ConfigError(SciLightningError):
    """A setting is invalid; the message names the setting."""


class DatasetError(SciLightningError):
    """The dataset is missing or malformed; the message says what and how to get it."""
