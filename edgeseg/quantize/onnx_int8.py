"""Static int8 QDQ quantization of ONNX models through onnxruntime.quantization."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ..artifacts.onnx import INPUT_NAME, set_spec


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
        set_spec(proto, spec)
        onnx.save(proto, str(path))
    onnx.checker.check_model(str(path))
    return path
