"""errors.py: the user's errors and the one message format of a refused setting."""

from __future__ import annotations

import pytest

from sci_lightning.errors import NO_VALUE, ConfigError, DatasetError, SciLightningError, setting_error


def test_a_refused_setting_names_the_setting_its_value_the_problem_and_the_fix():
    err = setting_error("energy.pue", 0.9, "must be >= 1", "Set energy.pue to 1.0 or more (1.0: no overhead)")
    assert isinstance(err, ConfigError)
    assert str(err) == (
        "Invalid setting energy.pue=0.9: must be >= 1. Set energy.pue to 1.0 or more (1.0: no overhead)"
    )


def test_the_value_is_shown_as_python_writes_it_so_a_string_is_quoted():
    err = setting_error("energy.gpu", "nvidia", "not one of the allowed values", "Choose one of: auto, off")
    assert str(err) == (
        "Invalid setting energy.gpu='nvidia': not one of the allowed values. Choose one of: auto, off"
    )
    assert (
        str(setting_error("sci.x", None, "must be set", "Give it"))
        == "Invalid setting sci.x=None: must be set. Give it"
    )


def test_no_value_leaves_the_value_out_for_a_setting_that_has_none():
    err = setting_error("energy.watts", NO_VALUE, "no such setting", "Remove it")
    assert str(err) == "Invalid setting energy.watts: no such setting. Remove it"


def test_the_message_is_one_line_raisable_and_caught_as_the_users_error():
    with pytest.raises(SciLightningError, match=r"^Invalid setting a\.b=1: bad\. Fix it$") as caught:
        raise setting_error("a.b", 1, "bad", "Fix it")
    assert "\n" not in str(caught.value)


def test_the_error_kinds_the_cli_reports_without_a_traceback():
    assert issubclass(ConfigError, SciLightningError) and issubclass(DatasetError, SciLightningError)
    assert issubclass(SciLightningError, Exception) and not issubclass(DatasetError, ConfigError)
    assert not issubclass(SciLightningError, (ValueError, OSError))  # never mistaken for a bug's error
