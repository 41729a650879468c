"""Typed JSON records: dataclasses read through one validating reader each.

A field's annotation is its contract: `from_dict` refuses a missing required field, a value
of the wrong type, or a record of another schema, with one clear DataError, so no consumer
ever works on a corrupt file by accident. Unknown keys are kept in `extra` (newer writers
may add fields)."""
from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from pathlib import Path

from ..errors import DataError

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


def _nested(annotation):
    """The dataclass a field holds, directly or as a list of them, if any."""
    candidates = [annotation, *typing.get_args(annotation)]
    for c in candidates:
        if dataclasses.is_dataclass(c):
            return c, False
        for inner in typing.get_args(c):
            if dataclasses.is_dataclass(inner):
                return inner, True
    return None, False


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
        inner, is_list = _nested(annotation)
        if inner is not None and value is not None:
            value = ([from_dict(inner, v, f"{where}.{f.name}[{i}]") for i, v in enumerate(value)] if is_list
                     else from_dict(inner, value, f"{where}.{f.name}"))
        values[f.name] = value
    if "extra" in {f.name for f in dataclasses.fields(cls)}:
        values["extra"] = {k: v for k, v in raw.items() if k not in known}
    return cls(**values)


def to_dict(record) -> dict:
    out = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if f.name == "extra":
            out.update(value)
        elif dataclasses.is_dataclass(value):
            out[f.name] = to_dict(value)
        elif isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
            out[f.name] = [to_dict(v) for v in value]
        else:
            out[f.name] = value
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
