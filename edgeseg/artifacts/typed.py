"""Typed JSON records: dataclasses read through one validating reader each.

A field's annotation is its contract: `from_dict` refuses a missing required field, a value
of the wrong type, or a record of another schema, with one clear DataError, so no consumer
ever works on a corrupt file by accident. Unknown keys are kept in `extra` (newer writers
may add fields)."""
from __future__ import annotations

import dataclasses
import inspect
import json
import math
import types
import typing
from pathlib import Path

from ..errors import DataError, UsageError

_PLAIN = {"str": str, "int": int, "float": (int, float), "bool": bool, "dict": dict, "list": list}


def _accepts(annotation, value) -> bool:
    if annotation is typing.Any:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(a, value) for a in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if origin in (list, tuple):
        return isinstance(value, (list, tuple))
    if origin is dict:
        return isinstance(value, dict)
    if dataclasses.is_dataclass(annotation):
        return isinstance(value, dict)
    expected = _PLAIN.get(getattr(annotation, "__name__", ""), object)
    if expected is int or expected == (int, float):
        if isinstance(value, bool):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
    return isinstance(value, expected)


def optional(default=None):
    """A field writers may leave out: absent reads as `default`, and None is not written back
    (so a record writes the same JSON shape it read)."""
    return dataclasses.field(default=default, metadata={"omit_none": True})


def _nested(annotation):
    """(the dataclass a field holds, how: "one", "list" or "dict" of them), or (None, None)."""
    for c in (annotation, *typing.get_args(annotation)):
        if dataclasses.is_dataclass(c):
            return c, "one"
        origin, args = typing.get_origin(c), typing.get_args(c)
        if origin is list and args and dataclasses.is_dataclass(args[0]):
            return args[0], "list"
        if origin is dict and len(args) == 2 and dataclasses.is_dataclass(args[1]):
            return args[1], "dict"
    return None, None


def _read_nested(inner, how: str, value, where: str):
    if how == "list":
        return [_read_one(inner, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if how == "dict":
        return {k: _read_one(inner, v, f"{where}.{k}") for k, v in value.items()}
    return _read_one(inner, value, where)


def _read_one(cls, raw, where: str):
    # Configs (edgeseg.config, with their own validating reader) read through it; fields an
    # older or newer edgeseg recorded are ignored there, as configs hold no `extra`.
    reader = getattr(cls, "from_dict", None)
    if reader is not None and "ignore_unknown" in inspect.signature(reader).parameters:
        if not isinstance(raw, dict):
            raise DataError(f"{where}: expected an object, got {type(raw).__name__}")
        try:
            return reader(raw, where=where, ignore_unknown=True)
        except UsageError as exc:  # the config's own message, located in the file
            message = str(exc)
            raise DataError(message if message.startswith(where) else f"{where}: {message}") from None
    return from_dict(cls, raw, where)


def from_dict(cls, raw, where: str):
    """An instance of dataclass `cls` from JSON `raw`, or a DataError naming `where`."""
    if not isinstance(raw, dict):
        raise DataError(f"{where}: expected an object, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    values, known = {}, set()
    for f in dataclasses.fields(cls):
        if f.name == "extra":
            continue
        known.add(f.name)
        if f.name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise DataError(f"{where}: missing field {f.name!r}")
            continue
        value, annotation = raw[f.name], hints[f.name]
        if isinstance(value, float) and not math.isfinite(value):
            raise DataError(f"{where}: field {f.name!r} is not a finite number ({value})")
        if not _accepts(annotation, value):
            raise DataError(f"{where}: field {f.name!r} has the wrong type ({type(value).__name__})")
        inner, how = _nested(annotation)
        if inner is not None and value is not None:
            value = _read_nested(inner, how, value, f"{where}.{f.name}")
        values[f.name] = value
    if "extra" in {f.name for f in dataclasses.fields(cls)}:
        values["extra"] = {k: v for k, v in raw.items() if k not in known}
    return cls(**values)


def _written(value):
    """`value` as JSON holds it: records as objects, tuples as lists (so to_dict() equals the
    parsed file)."""
    if hasattr(value, "to_dict") and not isinstance(value, type):
        return _written(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, (list, tuple)):
        return [_written(v) for v in value]
    if isinstance(value, dict):
        return {k: _written(v) for k, v in value.items()}
    return value


def to_dict(record) -> dict:
    out = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if f.name == "extra":
            out.update(value)
        elif value is None and f.metadata.get("omit_none"):
            continue
        else:
            out[f.name] = _written(value)
    return out


def read_json(path: Path, what: str, max_bytes: int = 64 * 2**20):
    """Parsed JSON from `path`, or a DataError saying what the file should have been."""
    path = Path(path)
    try:
        if path.stat().st_size > max_bytes:
            raise DataError(f"{path} is larger than {max_bytes // 2**20} MiB; not {what}")
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{what} not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path} is not a readable {what}: {type(exc).__name__}") from None


def check_schema(raw, accepted: tuple[str, ...], where: str) -> str:
    schema = raw.get("schema") if isinstance(raw, dict) else None
    if schema not in accepted:
        raise DataError(f"{where}: schema {schema!r}, expected {' or '.join(accepted)}")
    return schema
