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
    """How the int8 ONNX is built. benchmarks/onnx_int8_settings.py and onnx_resolution.py
    measure each against the defaults on onnxruntime's CPU provider (issue 23); only
    `copy_upsample` was faster at equal outputs, so the rest are the settings compress always used."""

    quant_format: str = "QDQ"  # or "QOperator"
    activations: str = "QUInt8"  # u8 activations x s8 weights: the x86 VNNI kernels' pairing
    per_channel: bool = True
    pre_process: bool = True  # onnxruntime's quant_pre_process (shape inference, fusions)
    # tf2onnx writes Keras' nearest upsampling as Resize with tf_half_pixel_for_nn; for whole
    # factors 'asymmetric' samples the same pixels and takes onnxruntime's fast nearest path,
    # but only in NCHW: the default session runs Resize in NHWC, where both cost the same.
    exact_resize: bool = False
    # onnxruntime runs a whole-factor nearest Resize in uint8 NHWC through a per-element path
    # (0.9 ms for 64x64x64 -> 128x128x64 on a 2-core Xeon, 13% of the seed's int8 time). The same
    # upsampling written as copies (Transpose, Reshape, Concat, as TFLite lowers it) runs as memcpy
    # inside QLinearConcat, and the Transposes cancel against the NHWC convolutions: identical
    # outputs, 1.13-1.30x faster on the DSB seed and its 0.5-resolution wrapper (RESULTS.md).
    copy_upsample: bool = True


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


def _whole_nearest_factors(node, constants) -> tuple[int, int] | None:
    """(kh, kw) when `node` is a nearest Resize of an NCHW tensor by whole factors whose sampling
    is floor(x / k) (the modes exact_nearest_resize accepts, or already asymmetric); else None."""
    if node.op_type != "Resize" or _attribute(node, "mode", "nearest") != "nearest" or \
            _attribute(node, "nearest_mode", "round_prefer_floor") != "floor" or \
            _attribute(node, "coordinate_transformation_mode") not in ("tf_half_pixel_for_nn", "asymmetric"):
        return None
    scales = constants.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if scales is None or len(node.input) > 3 and node.input[3] or scales.shape != (4,) or \
            not np.all(scales == np.round(scales)) or tuple(scales[:2]) != (1, 1) or np.any(scales < 1):
        return None
    return int(scales[2]), int(scales[3])


def copy_upsample(proto) -> dict[str, list[str]]:
    """Rewrites whole-factor nearest Resize nodes of static-shaped NCHW tensors as copies in
    NHWC: Transpose -> Reshape -> Concat (kw copies: each pixel along W) -> Reshape -> Concat
    (kh copies: each row along H) -> Reshape -> Transpose back, which samples exactly the same
    pixels. Returns each rewritten node's name with the names of the nodes that replace it;
    others (sizes, fractional factors, unknown shapes) stay."""
    import onnx
    from onnx import helper, numpy_helper

    graph = proto.graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    inferred = onnx.shape_inference.infer_shapes(proto).graph
    shapes = {v.name: [d.dim_value if d.HasField("dim_value") else 0 for d in v.type.tensor_type.shape.dim]
              for v in [*inferred.input, *inferred.value_info]}
    rewritten: dict[str, list[str]] = {}
    for node in list(graph.node):
        factors = _whole_nearest_factors(node, constants)
        shape = shapes.get(node.input[0], [])
        if factors is None or len(shape) != 4 or not all(shape[1:]):
            continue
        (kh, kw), (_, c, h, w), x, y = factors, shape, node.input[0], node.output[0]
        name = node.name or y  # node names are optional in ONNX; tensor names are unique

        def const(suffix: str, values) -> str:
            graph.initializer.append(numpy_helper.from_array(np.array(values, np.int64), f"{y}_{suffix}_shape"))
            return f"{y}_{suffix}_shape"

        def step(op: str, inputs: list[str], suffix: str, **attributes) -> str:
            out = y if suffix == "nchw" else f"{y}_{suffix}"
            replacement.append(helper.make_node(op, inputs, [out], name=f"{name}_{suffix}", **attributes))
            return out

        replacement = []
        t = step("Transpose", [x], "nhwc", perm=[0, 2, 3, 1])
        t = step("Reshape", [t, const("pixels", [-1, w, 1, c])], "pixels")
        t = step("Concat", [t] * kw, "wide", axis=2)
        t = step("Reshape", [t, const("rows", [-1, h, 1, kw * w * c])], "rows")
        t = step("Concat", [t] * kh, "tall", axis=2)
        t = step("Reshape", [t, const("up", [-1, kh * h, kw * w, c])], "up")
        step("Transpose", [t], "nchw", perm=[0, 3, 1, 2])
        at = list(graph.node).index(node)
        graph.node.remove(node)
        for new in reversed(replacement):
            graph.node.insert(at, new)
        rewritten[name] = [new.name for new in replacement]
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
        replaced: dict[str, list[str]] = {}
        if settings.exact_resize or settings.copy_upsample:
            proto = onnx.load(str(float_path))
            changed = exact_nearest_resize(proto) if settings.exact_resize else 0
            replaced = copy_upsample(proto) if settings.copy_upsample else {}
            if changed or replaced:
                source = Path(tmp) / "resize.onnx"
                onnx.save(proto, str(source))
        prepared = Path(tmp) / "prepared.onnx"
        if settings.pre_process:
            # tf2onnx graphs defeat the symbolic shape inference ("Incomplete symbolic shape inference").
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        else:
            prepared = source
        # an excluded (float) upsampling stays float as its copies
        excluded = [new for name in exclude for new in replaced.get(name, [name])] + \
            (head_nodes(prepared) if float_head else [])
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
