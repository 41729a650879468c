"""A deploy bundle's manifest.json as a typed, versioned record with one validating reader.

The manifest comes from whoever made the bundle, so the reader trusts nothing: the model file
must be a plain name, its sha256 64 hexadecimal digits, and every field of the right type."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import DataError
from . import typed

SCHEMA = "edgeseg.bundle/1"
MODEL_SUFFIXES = (".tflite", ".onnx")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def safe_model_name(name: object) -> bool:
    """A plain file name such as model_int8.tflite: no folders, no drive, no '..', no control characters."""
    return (isinstance(name, str) and 0 < len(name) <= 255 and name not in (".", "..")
            and not any(c in name for c in "/\\:\0") and name.isprintable()
            and name.lower().endswith(MODEL_SUFFIXES))


@dataclass
class ModelEntry:
    file: str
    sha256: str
    bytes: int | None = None
    format: str | None = None
    precision: str | None = None
    sparsity: float | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class BundleManifest:
    schema: str
    model: ModelEntry
    preprocessing: dict
    created: str | None = None
    input: dict | None = None
    output: dict | None = None
    measured: dict | None = None
    versions: dict | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return typed.to_dict(self)

    @classmethod
    def from_dict(cls, raw, where: str = "manifest.json") -> "BundleManifest":
        if not isinstance(raw, dict):
            raise DataError(f"{where}: manifest.json is not a JSON object")
        model = raw.get("model")
        if not isinstance(model, dict):
            raise DataError(f"{where}: the manifest has no model object")
        if not safe_model_name(model.get("file")):
            raise DataError(f"{where}: the manifest names the model file {model.get('file')!r}; expected a plain "
                            f"name ending in {' or '.join(MODEL_SUFFIXES)}")
        if not isinstance(model.get("sha256"), str) or not _SHA256.match(model["sha256"]):
            raise DataError(f"{where}: the manifest's model sha256 is not 64 hexadecimal digits")
        if not isinstance(raw.get("preprocessing"), dict):
            raise DataError(f"{where}: the manifest has no preprocessing object")
        typed.check_schema(raw, (SCHEMA,), where)
        return typed.from_dict(cls, raw, where)
