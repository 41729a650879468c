"""Float32 ONNX export through tf2onnx; int8 QDQ lives in edgeseg/quantize/onnx_int8.py."""
from __future__ import annotations

from pathlib import Path

from ..artifacts.onnx import INPUT_NAME, set_spec
from ..backend import tf



def export_onnx(model, path: Path, opset: int = 17, spec: dict | None = None) -> Path:
    """Float32 ONNX with a named input and a dynamic batch dimension, carrying `spec`;
    passes onnx.checker."""
    import logging

    import onnx
    import tf2onnx

    tf2onnx.logging.set_level(logging.ERROR)

    shape = (None, *model.inputs[0].shape[1:])
    signature = (tf().TensorSpec(shape, tf().float32, name=INPUT_NAME),)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=signature, opset=opset)
    if spec is not None:
        set_spec(proto, spec)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path
