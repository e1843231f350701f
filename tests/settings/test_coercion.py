"""The one coercion (settings/coercion.py): generic over any settings dataclass."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from sci_lightning.errors import ConfigError
from sci_lightning.settings.coercion import (
    coerce,
    is_real,
    join_path,
    unknown_setting_error,
    wrong_type_error,
)
from sci_lightning.settings.schema import setting


@dataclass
class Inner:
    size: int = setting(1, ge=1)
    mode: str = setting("a", choices=("a", "b"))


@dataclass
class Outer:
    inner: Inner = field(default_factory=Inner)
    names: list[str] = setting(factory=list)
    ratio: float | None = setting(None, gt=0.0, le=1.0)


def test_nested_dicts_lists_and_text_are_converted():
    out = coerce(Outer, {"inner": {"size": "3", "mode": " B "}, "names": "x", "ratio": "0.5"})
    assert out == Outer(Inner(3, "b"), ["x"], 0.5)


def test_none_gives_the_defaults_and_an_instance_is_rechecked():
    assert coerce(Outer, None) == Outer()
    with pytest.raises(ConfigError, match=r"outer\.inner\.size.*must be >= 1"):
        coerce(Outer, Outer(inner=Inner(size=0)), "outer")


def test_unknown_key_names_the_nearest_setting():
    with pytest.raises(ConfigError, match=r"Did you mean outer\.ratio\?"):
        coerce(Outer, {"ratoi": 0.2}, "outer")
    assert "The settings of outer are: inner, names, ratio." in str(
        unknown_setting_error(Outer, "outer", "x")
    )


def test_wrong_types_and_non_finite_numbers_are_refused():
    with pytest.raises(ConfigError, match=r"expected an integer.*For example inner\.size=2"):
        coerce(Outer, {"inner": {"size": "two"}})
    with pytest.raises(ConfigError, match="must be a finite number"):
        coerce(Outer, {"ratio": float("nan")})
    assert "expected true or false" in str(wrong_type_error(bool, "a.b", "maybe"))


def test_small_helpers():
    assert join_path("", "a") == "a" and join_path("x.y", "a") == "x.y.a"
    assert is_real(1) and is_real(2.5) and not is_real(True) and not is_real("1")
