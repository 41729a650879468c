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


def kernel_sparsity(path: Path) -> float:
    """Share of exactly-zero weights over the Conv/ConvTranspose/Gemm filters, read from the
    file's initializers (through DequantizeLinear where the weights are int8)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {t.name: t for t in graph.initializer}
    produced_by = {out: node for node in graph.node for out in node.output}
    zeros = total = 0
    for node in graph.node:
        if node.op_type not in ("Conv", "ConvTranspose", "Gemm") or len(node.input) < 2:
            continue
        name = node.input[1]
        source = produced_by.get(name)
        while source is not None and source.op_type in ("DequantizeLinear", "Transpose", "Identity"):
            name = source.input[0]
            source = produced_by.get(name)
        if name in initializers:
            weights = numpy_helper.to_array(initializers[name])
            zeros += int((weights == 0).sum())
            total += weights.size
    return zeros / total if total else 0.0
