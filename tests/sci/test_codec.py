"""Typed dataclasses to and from plain JSON (sci_lightning.sci.codec): encode, decode with the failing
field named, the JSON Schema derived from the same declarations, and ``plain`` for what writers are given.
Checked on small dataclasses declared here, so every rule is seen on its own."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from sci_lightning.errors import SciLightningError
from sci_lightning.sci.codec import FormatError, decode, encode, json_schema, plain, report_field

UTC = timezone.utc


@dataclass
class Inner:
    """A nested part."""

    value: float
    when: datetime | None = None


@dataclass
class Outer:
    """The whole record."""

    name: str = report_field(doc="what it is called")
    count: int = report_field(0, key="n", schema={"minimum": 0})
    ratio: float | None = None
    flag: bool = report_field(False, omit_if_default=True)
    tags: list[str] = report_field(factory=list)
    inner: Inner | None = None
    extra: dict[str, int] = field(default_factory=dict)
    anything: Any = None


@dataclass
class Custom:
    """Takes over its own conversion."""

    text: str

    def encode_json(self) -> str:
        return f"<{self.text}>"

    @classmethod
    def decode_json(cls, raw: object, path: str, source: str) -> Custom:
        if not isinstance(raw, str) or not raw.startswith("<"):
            raise FormatError(source, path, "must be <text>")
        return cls(raw[1:-1])

    @classmethod
    def json_schema(cls) -> dict:
        return {"type": "string", "pattern": "^<.*>$"}


FULL = Outer(
    name="job",
    count=3,
    ratio=0.5,
    flag=True,
    tags=["a"],
    inner=Inner(1.5, datetime(2024, 1, 1, 12, tzinfo=UTC)),
    extra={"x": 1},
    anything={"free": [1, "two"]},
)


def test_encode_uses_keys_and_omits_defaults_marked_so():
    assert encode(FULL) == {
        "name": "job",
        "n": 3,
        "ratio": 0.5,
        "flag": True,
        "tags": ["a"],
        "inner": {"value": 1.5, "when": "2024-01-01T12:00:00+00:00"},
        "extra": {"x": 1},
        "anything": {"free": [1, "two"]},
    }
    assert "flag" not in encode(Outer(name="j"))  # False is its default: left out
    assert encode(Outer(name="j", ratio=float("nan")))["ratio"] is None  # non-finite: null
    assert encode(Custom("t")) == "<t>" and encode([Custom("a"), 1]) == ["<a>", 1]


def test_decode_round_trips_and_fills_defaults():
    assert decode(Outer, encode(FULL)) == FULL
    assert decode(Outer, {"name": "j", "unknown_key_from_a_newer_writer": 1}) == Outer(name="j")
    assert decode(Outer, {"name": "j", "ratio": 2}).ratio == 2.0 and isinstance(decode(float, 2), float)
    assert decode(int, 3.0) == 3 and decode(float | None, float("inf")) is None
    assert decode(datetime, "2024-01-01T12:00:00Z") == datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert decode(Custom, "<t>") == Custom("t") and decode(Any, {"x": [1]}) == {"x": [1]}


@pytest.mark.parametrize(
    "raw, path, problem",
    [
        ({}, "name", "is missing (it is required)"),
        ({"name": 1}, "name", "must be text, got 1"),
        ({"name": "j", "n": 1.5}, "n", "must be an integer, got 1.5"),
        ({"name": "j", "n": True}, "n", "must be an integer, got True"),
        ({"name": "j", "ratio": "high"}, "ratio", "must be a finite number, got 'high'"),
        ({"name": "j", "flag": 1}, "flag", "must be true or false, got 1"),
        ({"name": "j", "tags": "a"}, "tags", "must be a list, got 'a'"),
        ({"name": "j", "tags": ["a", 2]}, "tags[1]", "must be text, got 2"),
        ({"name": "j", "inner": {"value": None}}, "inner.value", "must be a finite number, not null"),
        (
            {"name": "j", "inner": {"value": 1, "when": "noon"}},
            "inner.when",
            "must be an ISO-8601 date and time",
        ),
        ({"name": "j", "inner": []}, "inner", "must be an object, got []"),
        ({"name": "j", "extra": {"x": "1"}}, "extra.x", "must be an integer, got '1'"),
        ({"name": "x" * 100, "n": "y" * 100}, "n", "got '" + "y" * 56 + "..."),
    ],
)
def test_decode_names_the_file_and_the_field(raw, path, problem):
    with pytest.raises(FormatError) as err:
        decode(Outer, raw, source="runs/7/r.json")
    e = err.value
    assert e.path == path and e.source == "runs/7/r.json" and problem in e.problem
    assert str(e) == f"runs/7/r.json: field '{path}' {e.problem}." and "\n" not in str(e)
    assert e.detail == f"field '{path}' {e.problem}"
    assert isinstance(e, SciLightningError) and isinstance(e, ValueError)


def test_a_top_level_mismatch_is_named_as_such():
    with pytest.raises(FormatError) as err:
        decode(Outer, [1], source="x.json")
    assert str(err.value) == "x.json: the top level must be an object, got [1]." and err.value.path == ""
    with pytest.raises(FormatError, match="must be <text>"):
        decode(Custom, "plain")


def test_json_schema_of_the_declarations():
    schema = json_schema(Outer)
    assert schema["type"] == "object" and schema["description"] == "The whole record."
    assert schema["required"] == ["name"]
    props = schema["properties"]
    assert props["name"] == {"type": "string", "description": "what it is called"}
    assert props["n"] == {"type": "integer", "minimum": 0}
    assert props["ratio"] == {"type": ["number", "null"]} and props["flag"] == {"type": "boolean"}
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}
    assert props["extra"] == {"type": "object", "additionalProperties": {"type": "integer"}}
    assert props["anything"] == {}
    assert props["inner"]["type"] == ["object", "null"] and props["inner"]["required"] == ["value"]
    assert props["inner"]["properties"]["when"] == {"type": ["string", "null"], "format": "date-time"}
    assert json_schema(Custom) == {"type": "string", "pattern": "^<.*>$"}


def test_plain_turns_what_writers_are_given_into_json_data(tmp_path):
    naive = datetime(2024, 1, 1, 12)
    cet = datetime(2024, 1, 1, 13, tzinfo=timezone(timedelta(hours=1)))
    assert plain(cet) == "2024-01-01T12:00:00+00:00" and plain(naive) == "2024-01-01T12:00:00"
    assert plain(Path("/a/b")) == "/a/b"
    assert plain(OmegaConf.create({"a": [1, {"b": 2.5}]})) == {"a": [1, {"b": 2.5}]}
    assert plain({1: (float("inf"), {2})}) == {"1": [None, [2]]}
    assert plain(np.float32(0.5)) == 0.5 and plain(torch.tensor(3)) == 3 and plain(np.int64(4)) == 4
    assert plain(Inner(1.0)) == {"value": 1.0, "when": None}
    assert plain(True) is True and plain(None) is None

    class HasDict:
        def to_dict(self):
            return {"k": float("-inf")}

    assert plain(HasDict()) == {"k": None} and plain(object).startswith("<class")
