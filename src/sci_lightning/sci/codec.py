"""Typed dataclasses to and from plain JSON data, and the JSON Schema of such a dataclass.

The run report (:mod:`sci_lightning.sci.report`) is declared once, as dataclasses; this
module derives from those declarations how a report is written (:func:`encode`), read
back with every field checked (:func:`decode`) and described as a JSON Schema
(:func:`json_schema`), so the three can never disagree.

Field types understood: ``bool``, ``int``, ``float`` (finite; a non-finite number reads
as ``null`` where ``null`` is allowed), ``str``, ``datetime`` (ISO-8601 text), ``Any``,
``X | None``, ``list[X]``, ``dict[str, X]`` and nested dataclasses. A class may take over
its own conversion with ``encode_json()``, ``decode_json(raw, path, source)`` and
``json_schema()``. A field without a default is required; unknown keys are ignored when
reading (a newer writer may add fields). Field metadata (see :func:`report_field`):
``key`` (the JSON key when it differs from the field name), ``omit_if_default`` (left out
of the JSON while equal to its default), ``doc`` (the schema's description) and
``schema`` (extra JSON Schema keywords, e.g. ``{"enum": [...]}``).

:func:`plain` turns anything else a writer is handed (OmegaConf nodes from Hydra, numpy
scalars, paths, datetimes) into the same plain data.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

from sci_lightning.errors import SciLightningError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["FormatError", "decode", "encode", "json_schema", "plain", "report_field"]

_MISSING = dataclasses.MISSING

#: Plain JSON data, as :func:`json.loads` returns it (an object is a ``dict[str, Any]``).
JsonData = dict[str, Any] | list[Any] | str | int | float | bool | None
T = TypeVar("T")


class FormatError(SciLightningError, ValueError):
    """Data that does not match its declared type; the message names the file and the field."""

    def __init__(self, source: str, path: str, problem: str) -> None:
        self.source, self.path, self.problem = source, path, problem
        #: the message without the file: "field 'sci.value' must be a finite number, got 'x'"
        self.detail = f"{f'field {path!r}' if path else 'the top level'} {problem}"
        super().__init__(f"{source}: {self.detail}.")


def report_field(
    default: object = _MISSING,
    *,
    key: str | None = None,
    doc: str = "",
    omit_if_default: bool = False,
    factory: Callable[[], object] | None = None,
    schema: Mapping[str, Any] | None = None,
) -> Any:
    """A dataclass field with the metadata this module reads (see the module docstring)."""
    meta = {"key": key, "doc": doc, "omit_if_default": omit_if_default, "schema": dict(schema or {})}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


# --------------------------------------------------------------------------- plain data


@overload
def plain(o: dict[Any, Any]) -> dict[str, Any]: ...
@overload
def plain(o: list[Any] | tuple[Any, ...] | set[Any]) -> list[Any]: ...
@overload
def plain(o: object) -> JsonData: ...


def plain(o: object) -> JsonData:
    """JSON/YAML-safe plain data: datetimes as UTC ISO-8601, non-finite floats as None."""
    if isinstance(o, datetime):
        return _iso(o)
    if isinstance(o, Path):
        return str(o)
    if type(o).__name__ in ("DictConfig", "ListConfig"):  # OmegaConf containers from Hydra
        from omegaconf import OmegaConf

        return plain(OmegaConf.to_container(o, resolve=True))
    if isinstance(o, bool) or o is None or isinstance(o, (int, str)):
        return o
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {str(k): plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple, set)):
        return [plain(v) for v in o]
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return encode(o)
    if hasattr(o, "item"):  # numpy / torch scalars
        try:
            return plain(typing.cast(Any, o).item())
        except Exception:  # pragma: no cover - defensive
            pass
    if hasattr(o, "to_dict"):
        return plain(typing.cast(Any, o).to_dict())
    return str(o)


def _iso(t: datetime) -> str:
    if t.tzinfo is not None:
        t = t.astimezone(timezone.utc)
    return t.isoformat()


# --------------------------------------------------------------------------- writing


def _key(f: dataclasses.Field) -> str:
    return f.metadata.get("key") or f.name


def _default(f: dataclasses.Field) -> Any:
    if f.default is not _MISSING:
        return f.default
    if f.default_factory is not _MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return _MISSING


@overload
def encode(obj: DataclassInstance | dict[Any, Any]) -> dict[str, Any]: ...
@overload
def encode(obj: list[Any]) -> list[Any]: ...
@overload
def encode(obj: object) -> JsonData: ...


def encode(obj: object) -> JsonData:
    """``obj`` (a dataclass declared as described above, or plain data) as plain JSON data
    (a dataclass's ``encode_json()`` returns a JSON object)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        if hasattr(obj, "encode_json"):
            return typing.cast(Any, obj).encode_json()
        out: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if f.metadata.get("omit_if_default") and value == _default(f):
                continue
            out[_key(f)] = encode(value)
        return out
    if isinstance(obj, list):
        return [encode(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): encode(v) for k, v in obj.items()}
    return plain(obj)


# --------------------------------------------------------------------------- reading


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _optional(hint: Any) -> tuple[Any, bool]:
    """``(X, True)`` for ``X | None``; ``(hint, False)`` otherwise."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) != 1:  # pragma: no cover - a declaration mistake
            raise TypeError(f"only X | None unions are supported, not {hint}")
        return args[0], len(args) < len(typing.get_args(hint))
    return hint, False


@overload
def decode(hint: type[T], raw: object, path: str = "", source: str = "data") -> T: ...
@overload
def decode(hint: object, raw: object, path: str = "", source: str = "data") -> object: ...


def decode(hint: object, raw: object, path: str = "", source: str = "data") -> object:
    """``raw`` (plain JSON data) checked against ``hint`` and turned into it.

    Raises:
        FormatError: naming ``source`` and the dotted field ``path`` of the first mismatch.
    """
    inner, nullable = _optional(hint)
    if nullable and (raw is None or (isinstance(raw, float) and not math.isfinite(raw))):
        return None
    if raw is None and inner is not Any:
        raise FormatError(source, path, f"must be {_describe(inner)}, not null")
    if inner is Any:
        return raw
    if hasattr(inner, "decode_json"):
        return typing.cast(Any, inner).decode_json(raw, path, source)
    if dataclasses.is_dataclass(inner):
        return _decode_dataclass(typing.cast(type, inner), raw, path, source)
    origin = typing.get_origin(inner)
    if origin is list:
        if not isinstance(raw, list):
            raise FormatError(source, path, f"must be a list, got {_shown(raw)}")
        (item,) = typing.get_args(inner) or (Any,)
        return [decode(item, v, f"{path}[{i}]", source) for i, v in enumerate(raw)]
    if origin is dict:
        if not isinstance(raw, Mapping):
            raise FormatError(source, path, f"must be an object, got {_shown(raw)}")
        _, value_hint = typing.get_args(inner) or (str, Any)
        return {str(k): decode(value_hint, v, _join(path, str(k)), source) for k, v in raw.items()}
    return _decode_scalar(inner, raw, path, source)


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    """``typing.get_type_hints`` once per class (resolving them was most of reading a report)."""
    return typing.get_type_hints(cls)


def _decode_dataclass(cls: type, raw: Any, path: str, source: str) -> Any:
    if not isinstance(raw, Mapping):
        raise FormatError(source, path, f"must be an object, got {_shown(raw)}")
    hints = _type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        key = _key(f)
        if key in raw:
            kwargs[f.name] = decode(hints[f.name], raw[key], _join(path, key), source)
        elif _default(f) is _MISSING:
            raise FormatError(source, _join(path, key), "is missing (it is required)")
    return cls(**kwargs)


def _decode_scalar(hint: Any, raw: Any, path: str, source: str) -> Any:
    if hint is bool and isinstance(raw, bool):
        return raw
    if hint is str and isinstance(raw, str):
        return raw
    number = isinstance(raw, (int, float)) and not isinstance(raw, bool)
    if hint is float and number and math.isfinite(raw):
        return float(raw)
    if hint is int and number and math.isfinite(raw) and float(raw).is_integer():
        return int(raw)
    if hint is datetime and isinstance(raw, str):
        try:
            return datetime.fromisoformat(raw)
        except ValueError:
            pass
    raise FormatError(source, path, f"must be {_describe(hint)}, got {_shown(raw)}")


_WORDS = {
    bool: "true or false",
    int: "an integer",
    float: "a finite number",
    str: "text",
    datetime: "an ISO-8601 date and time",
}


def _describe(hint: Any) -> str:
    if dataclasses.is_dataclass(hint) or typing.get_origin(hint) is dict:
        return "an object"
    if typing.get_origin(hint) is list:
        return "a list"
    return _WORDS.get(hint, str(hint))


def _shown(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------------------------------------- schema

_SCHEMA_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


def json_schema(hint: object) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12 keywords) of what :func:`decode` accepts for ``hint``."""
    inner, nullable = _optional(hint)
    schema = _schema_of(inner)
    if nullable and "type" in schema:
        schema["type"] = [schema["type"], "null"]
    return schema


def _schema_of(hint: Any) -> dict[str, Any]:
    if hint is Any:
        return {}
    if hasattr(hint, "json_schema"):
        return hint.json_schema()
    if dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        properties, required = {}, []
        for f in dataclasses.fields(hint):
            prop = json_schema(hints[f.name])
            if f.metadata.get("doc"):
                prop["description"] = f.metadata["doc"]
            prop.update(f.metadata.get("schema") or {})
            properties[_key(f)] = prop
            if _default(f) is _MISSING:
                required.append(_key(f))
        out: dict[str, Any] = {"type": "object"}
        if hint.__doc__:
            out["description"] = " ".join(hint.__doc__.split())
        out["properties"] = properties
        if required:
            out["required"] = required
        return out
    origin = typing.get_origin(hint)
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        return {"type": "array", "items": json_schema(item)}
    if origin is dict:
        _, value_hint = typing.get_args(hint) or (str, Any)
        return {"type": "object", "additionalProperties": json_schema(value_hint)}
    if hint is datetime:
        return {"type": "string", "format": "date-time"}
    return {"type": _SCHEMA_TYPES[hint]}
