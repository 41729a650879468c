"""ONNX files without TensorFlow: the preprocessing spec stored in metadata_props."""
from __future__ import annotations

import json
from pathlib import Path

from ..config import SPEC_METADATA_KEY

INPUT_NAME = "input"


def set_spec(proto, spec: dict) -> None:
    """Stores the preprocessing spec in the model's metadata_props, for the device side."""
    kept = [p for p in proto.metadata_props if p.key != SPEC_METADATA_KEY]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    proto.metadata_props.add(key=SPEC_METADATA_KEY, value=json.dumps(spec, sort_keys=True))


def read_spec(path: Path) -> dict | None:
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    raw = next((p.value for p in proto.metadata_props if p.key == SPEC_METADATA_KEY), None)
    return json.loads(raw) if raw else None
