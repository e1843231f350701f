"""The JSON Schema of sci_report.json and its small validator (sci_lightning.sci.schema): the shipped file
matches the dataclasses, written reports validate, and each keyword of the subset is enforced."""

from __future__ import annotations

import json

import pytest

from sci_lightning.sci.report import SCHEMA_VERSION
from sci_lightning.sci.schema import DRAFT, SCHEMA_FILE, load_schema, report_schema, validate
from sci_lightning.sci.writer import write_run_report
from tests.sci.test_report import META, make_run


def test_written_report_validates_against_the_shipped_schema(tmp_path):
    schema = load_schema()
    assert schema == report_schema(), "regenerate: python -m sci_lightning.sci.schema"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    for embodied, fu in ((False, "job"), (True, "1000_images")):
        result, energy = make_run(embodied=embodied, fu=fu, interval_s=0.25 if embodied else 600.0)
        write_run_report(tmp_path, result, energy, META)
        data = json.loads((tmp_path / "sci_report.json").read_text())
        assert validate(data, schema) == []
    broken = dict(data, sci={"value": "x"}, training={"epochs": "1.5"}, started_at="noon")
    problems = validate(broken, schema)
    assert any(p.startswith("sci.value:") for p in problems) and "sci.unit: required but missing" in problems
    assert any(p.startswith("training.epochs:") for p in problems)
    assert any(p.startswith("started_at:") for p in problems)


def test_the_schema_names_its_draft_and_version():
    schema = report_schema()
    assert schema["$schema"] == DRAFT and schema["type"] == "object"
    assert schema["title"] == f"sci-lightning run report (sci_report.json, schema_version {SCHEMA_VERSION})"
    assert "sci" in schema["required"] and SCHEMA_FILE.name == "sci_report.schema.json"
    assert json.loads(SCHEMA_FILE.read_text()) == load_schema()


@pytest.mark.parametrize(
    "data, schema, problems",
    [
        (1, {"type": "string"}, ["(top level): expected string, got int"]),
        (None, {"type": ["number", "null"]}, []),
        (True, {"type": "number"}, ["(top level): expected number, got bool"]),
        (True, {"type": "integer"}, ["(top level): expected integer, got bool"]),
        (2.0, {"type": "integer"}, []),
        (2.5, {"type": "integer"}, ["(top level): expected integer, got float"]),
        ("b", {"enum": ["a"]}, ["(top level): must be one of ['a']"]),
        (2, {"const": 1}, ["(top level): must be 1"]),
        ("noon", {"format": "date-time"}, ["(top level): not an ISO-8601 date-time"]),
        ("2024-01-01T00:00:00+00:00", {"type": "string", "format": "date-time"}, []),
        ([1, "x"], {"type": "array", "items": {"type": "integer"}}, ["[1]: expected integer, got str"]),
        ({"a": 1}, {"type": "object", "required": ["a", "b"]}, ["b: required but missing"]),
        ({"a": 1, "z": 2}, {"properties": {"a": {}}, "additionalProperties": False}, ["z: not allowed"]),
        (
            {"m": {"k": "v"}},
            {"properties": {"m": {"additionalProperties": {"type": "integer"}}}},
            ["m.k: expected integer, got str"],
        ),
        (
            {"o": {"i": [{}]}},
            {"properties": {"o": {"properties": {"i": {"items": {"required": ["r"]}}}}}},
            ["o.i[0].r: required but missing"],
        ),
    ],
)
def test_validate_each_keyword(data, schema, problems):
    assert validate(data, schema) == problems
