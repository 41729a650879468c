"""ONNX export through tf2onnx and int8 QDQ quantization through onnxruntime.quantization."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from ..backend import tf
from ..config import SPEC_METADATA_KEY

INPUT_NAME = "input"


def _set_spec(proto, spec: dict) -> None:
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
        _set_spec(proto, spec)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path


class _Calibration:
    """onnxruntime's CalibrationDataReader over in-memory calibration images."""

    def __init__(self, images: np.ndarray):
        self._iter = iter([{INPUT_NAME: images[i:i + 1].astype(np.float32)} for i in range(len(images))])

    def get_next(self):
        return next(self._iter, None)

    def rewind(self):
        pass


def quantize_onnx_int8(float_path: Path, path: Path, calibration: np.ndarray, spec: dict | None = None) -> Path:
    """Static int8 QDQ, per-channel weights, calibrated on the same images as TFLite, carrying `spec`."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    CalibrationDataReader.register(_Calibration)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        # tf2onnx graphs defeat the symbolic shape inference ("Incomplete symbolic shape inference").
        quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(path), _Calibration(calibration), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    if spec is not None:
        proto = onnx.load(str(path))
        _set_spec(proto, spec)
        onnx.save(proto, str(path))
    onnx.checker.check_model(str(path))
    return path
