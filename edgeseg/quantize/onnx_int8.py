"""Static int8 quantization of ONNX models through onnxruntime.quantization."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..artifacts.onnx import INPUT_NAME, set_spec


@dataclass(frozen=True)
class OnnxInt8Settings:
    """How the int8 ONNX is built. benchmarks/onnx_int8_settings.py measures each against the
    defaults on onnxruntime's CPU provider; none of the alternatives was faster at equal Dice
    on the seed U-Net (issue 23), so the defaults are the settings compress always used."""

    quant_format: str = "QDQ"  # or "QOperator"
    activations: str = "QUInt8"  # u8 activations x s8 weights: the x86 VNNI kernels' pairing
    per_channel: bool = True
    pre_process: bool = True  # onnxruntime's quant_pre_process (shape inference, fusions)
    # tf2onnx writes Keras' nearest upsampling as Resize with tf_half_pixel_for_nn; for whole
    # factors 'asymmetric' samples the same pixels and takes onnxruntime's fast nearest path,
    # but only in NCHW: the default session runs Resize in NHWC, where both cost the same.
    exact_resize: bool = False


DEFAULT_SETTINGS = OnnxInt8Settings()


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


def _attribute(node, name: str, default=None):
    import onnx

    found = next((a for a in node.attribute if a.name == name), None)
    value = onnx.helper.get_attribute_value(found) if found is not None else default
    return value.decode() if isinstance(value, bytes) else value


def exact_nearest_resize(proto) -> int:
    """Rewrites nearest Resize nodes that upsample by whole factors from tf_half_pixel_for_nn
    (floor) to asymmetric (floor): for a whole factor k, floor((x + 0.5) / k) == floor(x / k)
    for every output index x, so the output is identical. Returns the number rewritten."""
    from onnx import numpy_helper

    constants = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    rewritten = 0
    for node in proto.graph.node:
        if node.op_type != "Resize" or _attribute(node, "mode", "nearest") != "nearest":
            continue
        if _attribute(node, "coordinate_transformation_mode") != "tf_half_pixel_for_nn" or \
                _attribute(node, "nearest_mode", "round_prefer_floor") != "floor":
            continue
        scales = constants.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if scales is None or len(node.input) > 3 and node.input[3] or not np.all(scales == np.round(scales)):
            continue  # sizes, or a fractional factor: the two modes sample differently
        for attribute in node.attribute:
            if attribute.name == "coordinate_transformation_mode":
                attribute.s = b"asymmetric"
        rewritten += 1
    return rewritten


def quantize_onnx_int8(float_path: Path, path: Path, calibration: np.ndarray, spec: dict | None = None,
                       float_head: bool = False, settings: OnnxInt8Settings = DEFAULT_SETTINGS,
                       exclude: Sequence[str] = (), calibration_method: str = "MinMax") -> Path:
    """Static int8, per-channel weights, calibrated on the same images as TFLite, carrying `spec`;
    with `float_head` the last convolution and its activation stay in float (see head_nodes), and
    so do the nodes named in `exclude` (the mixed-precision rung). `calibration_method` is
    onnxruntime's: MinMax, Percentile (99.999th, the tool's default) or Entropy. `float_path` is
    read, never written."""
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    CalibrationDataReader.register(_Calibration)
    with tempfile.TemporaryDirectory() as tmp:
        source = float_path
        if settings.exact_resize:
            proto = onnx.load(str(float_path))
            if exact_nearest_resize(proto):
                source = Path(tmp) / "resize.onnx"
                onnx.save(proto, str(source))
        prepared = Path(tmp) / "prepared.onnx"
        if settings.pre_process:
            # tf2onnx graphs defeat the symbolic shape inference ("Incomplete symbolic shape inference").
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        else:
            prepared = source
        excluded = list(exclude) + (head_nodes(prepared) if float_head else [])
        quantize_static(str(prepared), str(path), _Calibration(calibration),
                        quant_format=getattr(QuantFormat, settings.quant_format), per_channel=settings.per_channel,
                        activation_type=getattr(QuantType, settings.activations), weight_type=QuantType.QInt8,
                        nodes_to_exclude=excluded or None,
                        calibrate_method=getattr(CalibrationMethod, calibration_method))
    return _checked_with_spec(path, spec)


def _checked_with_spec(path: Path, spec: dict | None) -> Path:
    """Stores the preprocessing spec in the quantized model and checks it."""
    import onnx

    if spec is not None:
        proto = onnx.load(str(path))
        set_spec(proto, spec)
        onnx.save(proto, str(path))
    onnx.checker.check_model(str(path))
    return path
