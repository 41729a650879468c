"""The frozen configs read back from their to_dict() form (report.json, the study's records),
through their constructors' checks."""
from __future__ import annotations

import dataclasses
import types
import typing
from typing import Literal

from .errors import DataError, UsageError


def _value(annotation, value, where: str):
    """`value` checked against a field's annotation (JSON lists become tuples, objects nested
    configs); a value of the wrong type is a UsageError, as the constructor gives for a bad one."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return _value(next(a for a in args if a is not type(None)), value, where)
    if origin is Literal:
        if value not in args:
            raise UsageError(f"{where} must be one of {', '.join(map(str, args))}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise UsageError(f"{where} must be a list of names, got {value!r}")
        return tuple(value)
    if dataclasses.is_dataclass(annotation):
        return annotation.from_dict(value, where=where)
    accepted = {int: (int,), float: (int, float), bool: (bool,), str: (str,)}.get(annotation)
    if accepted is not None and (not isinstance(value, accepted) or (isinstance(value, bool) and annotation is not bool)):
        raise UsageError(f"{where} must be {annotation.__name__}, got {value!r}")
    return value


def config_from_dict(cls, raw, where: str, ignore_unknown: bool = False):
    """The frozen config `cls` from its to_dict() form, through its constructor's checks. Unknown
    keys are refused (a misspelt option must not be silently ignored) unless `ignore_unknown`,
    for records an older or newer edgeseg wrote."""
    if not isinstance(raw, dict):
        raise DataError(f"{where}: expected an object, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown and not ignore_unknown:
        raise UsageError(f"{where}: unknown field {unknown[0]!r}")
    try:
        return cls(**{k: _value(hints[k], v, f"{where}.{k}") for k, v in raw.items() if k in names})
    except TypeError as exc:  # a constructor's comparison of a value it did not expect
        raise UsageError(f"{where}: {exc}") from None


__all__ = ["config_from_dict"]
