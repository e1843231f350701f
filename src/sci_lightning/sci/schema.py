"""The JSON Schema of ``sci_report.json``, and a small validator for it.

The schema is derived from the :class:`~sci_lightning.sci.report.SciReport` dataclasses
(:func:`report_schema`) and shipped beside this module as ``sci_report.schema.json``
(draft 2020-12) for other tools; ``python -m sci_lightning.sci.schema`` rewrites that
file after a change to the type. :func:`validate` checks data against the subset of JSON
Schema the report uses (``type``, ``properties``, ``required``, ``additionalProperties``,
``items``, ``const``, ``enum``, ``format: date-time``), so no extra dependency is needed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from sci_lightning.sci.codec import json_schema
from sci_lightning.sci.report import SCHEMA_VERSION, SciReport

__all__ = ["load_schema", "report_schema", "validate"]

SCHEMA_FILE = Path(__file__).with_name("sci_report.schema.json")
DRAFT = "https://json-schema.org/draft/2020-12/schema"


def report_schema() -> dict[str, Any]:
    """The JSON Schema of ``sci_report.json`` (the current schema_version), from the dataclasses."""
    body = json_schema(SciReport)
    return {
        "$schema": DRAFT,
        "title": f"sci-lightning run report (sci_report.json, schema_version {SCHEMA_VERSION})",
        **body,
    }


def load_schema() -> dict[str, Any]:
    """The shipped ``sci_report.schema.json``."""
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


_TYPE_CHECKS = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())
    ),
}


def validate(data: object, schema: Mapping[str, Any], path: str = "") -> list[str]:
    """Every way ``data`` breaks ``schema`` (the subset above), as ``"<path>: <problem>"``; [] if none."""
    where = path or "(top level)"
    types = schema.get("type")
    if types is not None:
        allowed = [types] if isinstance(types, str) else list(types)
        if not any(_TYPE_CHECKS[t](data) for t in allowed):
            return [f"{where}: expected {' or '.join(allowed)}, got {type(data).__name__}"]
    errors: list[str] = []
    if "const" in schema and data != schema["const"]:
        errors.append(f"{where}: must be {schema['const']!r}")
    if "enum" in schema and data not in schema["enum"]:
        errors.append(f"{where}: must be one of {schema['enum']!r}")
    if schema.get("format") == "date-time" and isinstance(data, str):
        try:
            datetime.fromisoformat(data)
        except ValueError:
            errors.append(f"{where}: not an ISO-8601 date-time")
    if isinstance(data, dict):
        errors += _validate_object(data, schema, path)
    if isinstance(data, list) and "items" in schema:
        for i, item in enumerate(data):
            errors += validate(item, schema["items"], f"{path}[{i}]")
    return errors


def _validate_object(data: dict, schema: Mapping[str, Any], path: str) -> list[str]:
    errors = [
        f"{path}.{k}".lstrip(".") + ": required but missing"
        for k in schema.get("required", ())
        if k not in data
    ]
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, value in data.items():
        sub = f"{path}.{key}" if path else key
        if key in properties:
            errors += validate(value, properties[key], sub)
        elif extra is False:
            errors.append(f"{sub}: not allowed")
        elif isinstance(extra, Mapping):
            errors += validate(value, extra, sub)
    return errors


if __name__ == "__main__":  # regenerate the shipped file
    SCHEMA_FILE.write_text(json.dumps(report_schema(), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {SCHEMA_FILE}")
