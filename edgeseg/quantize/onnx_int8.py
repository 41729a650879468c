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


def head_nodes(float_path: Path) -> list[str]:
    """The last Conv node (the 1x1 head) and every node after it (its activation): the nodes
    kept in float when the head stays float. The graph's nodes are in topological order."""
    import onnx

    nodes = onnx.load(str(float_path), load_external_data=False).graph.node
    last = max((i for i, node in enumerate(nodes) if node.op_type == "Conv"), default=None)
    if last is None:
        raise ValueError("the model has no Conv node to keep in float")
    return [node.name for node in nodes[last:]]


def quantize_onnx_int8(float_path: Path, path: Path, calibration: np.ndarray, spec: dict | None = None,
                       float_head: bool = False) -> Path:
    """Static int8 QDQ, per-channel weights, calibrated on the same images as TFLite, carrying `spec`;
    with `float_head` the last convolution and its activation stay in float (see head_nodes)."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    CalibrationDataReader.register(_Calibration)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        # tf2onnx graphs defeat the symbolic shape inference ("Incomplete symbolic shape inference").
        quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(path), _Calibration(calibration), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=head_nodes(prepared) if float_head else None)
    if spec is not None:
        proto = onnx.load(str(path))
        set_spec(proto, spec)
        onnx.save(proto, str(path))
    onnx.checker.check_model(str(path))
    return path


def quantize_onnx_int8_excluding(float_path: Path, path: Path, calibration: np.ndarray, spec: dict | None,
                                 nodes_to_exclude, calibration_method: str = "MinMax") -> Path:
    """Static int8 QDQ as quantize_onnx_int8, with the named nodes left in float (the mixed-precision
    rung) and onnxruntime's `calibration_method`: MinMax, Percentile (99.999th, the tool's default)
    or Entropy. Per-channel weights stay on."""
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    CalibrationDataReader.register(_Calibration)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(float_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(path), _Calibration(calibration), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_exclude=list(nodes_to_exclude) or None,
                        calibrate_method=getattr(CalibrationMethod, calibration_method))
    if spec is not None:
        proto = onnx.load(str(path))
        set_spec(proto, spec)
        onnx.save(proto, str(path))
    onnx.checker.check_model(str(path))
    return path
