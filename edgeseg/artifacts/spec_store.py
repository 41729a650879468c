"""Storing a (changed) preprocessing spec into an artifact's bytes, for either format, so the
device reads the settings the artifact was verified with."""
from __future__ import annotations

from . import onnx, tflite


def store_spec(data: bytes, fmt: str, spec: dict) -> bytes:
    """`data` (a .tflite or .onnx file's bytes) with `spec` stored in place of its spec."""
    if fmt == "onnx":
        import onnx as onnx_lib

        proto = onnx_lib.load_from_string(data)
        onnx.set_spec(proto, spec)
        return proto.SerializeToString()
    return tflite.with_spec(data, spec)
