"""User-facing errors: each message says what is wrong and how to fix it.

The CLI prints these without a traceback and exits with status 2.
"""


class SciLightningError(Exception):
    """Base class of errors that are the user's to fix (configuration, data, credentials)."""


class ConfigError(SciLightningError):
    """A setting is invalid; the message names the setting."""


class DatasetError(SciLightningError):
    """The dataset is missing or malformed; the message says what and how to get it."""


#: ``setting_error``'s ``value`` when the setting has no value to show (e.g. an unknown key).
NO_VALUE = object()


def setting_error(path: str, value: object, problem: str, fix: str) -> ConfigError:
    """The one message format for a refused setting: the setting, what is wrong, the fix."""
    shown = "" if value is NO_VALUE else f"={value!r}"
    return ConfigError(f"Invalid setting {path}{shown}: {problem}. {fix}")
