"""Where int8 hurts, per layer, and which layers to keep out of int8.

A layer group is one weighted op of the calibrated TFLite model (a convolution, with its fused
BatchNorm and activation) and the weightless ops after it up to the next weighted op (pooling,
resizing, concatenation, the output sigmoid): keeping a group in float keeps all of them in float,
so no lone integer op sits between two float ones. Groups are named by the Keras layer of their
weighted op, which is also how the ONNX graph's nodes are found (tf2onnx keeps the layer names).

Two measures, both in graph order:
- the error of each group's int8 output against float (TF's QuantizationDebugger, numeric-verify
  ops on the calibrated model that the int8 artifacts share, so no second calibration). The debugger
  feeds each float op the dequantized int8 input, so the error is the layer's own, not accumulated;
- the Dice each group costs: the model with that group alone in int8 (every other group denylisted,
  so float), scored on the validation images, against the same model with no group in int8. Quantizing
  a group quantizes its input and output tensors, so a tensor with a wide range shows in both the layer
  that makes it and the one that reads it; leaving one group alone in float cannot show that (its
  output is still quantized where the next int8 layer reads it). Both cost one re-quantize of the
  shared calibration (~0.15 s) and one scoring per group."""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..export.tflite import quiet

WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED")
# Keras 3 opens a layer's name scope for its build and again for its call, so a traced Keras 3
# layer 'conv2d' runs under 'conv2d_1' (and a Keras 3 layer named 'conv2d_1' under 'conv2d_1_1').
KERAS3_SCOPE_SUFFIX = re.compile(r"_\d+$")
# The debugger runs every op in float and int8 per image (~1 s an image for the 128x128 seed U-Net on the
# shared 2-core machine). On the DSB seed U-Net, RMSE/scale from the first 8 calibration images agreed
# with all 35 within 0.002 in every layer, so the always-on error section costs seconds, not half a minute.
ERROR_IMAGES = 8


@dataclass(frozen=True)
class LayerGroup:
    name: str  # the Keras layer of the weighted op (or its output tensor name when no layer matches)
    position: int  # the weighted op's index in the TFLite graph
    nodes: tuple[str, ...]  # output tensor names of its ops: what the converter's denylist takes
    macs: int

    def to_dict(self) -> dict:
        return {"name": self.name, "position": self.position, "macs": self.macs}


def _op_macs(op) -> int:
    """MACs of one weighted TFLite op from its tensor shapes (batch 1); the fallback when no Keras
    layer matches (models/flops.py counts the Keras layers)."""
    out, filt = op.outputs[0].shape, op.inputs[1].shape
    if op.name == "FULLY_CONNECTED":
        return int(np.prod(filt))
    if op.name == "TRANSPOSE_CONV":  # inputs: output shape, filter, input
        return int(np.prod(op.inputs[2].shape[1:3]) * np.prod(filt))
    return int(np.prod(out[1:3]) * np.prod(filt))


def _name_parts(name: str, keras3: bool = False) -> set[str]:
    """'unet/enc1_relu1/Relu;unet/enc1_conv1/Conv2D' -> {'unet', 'enc1_relu1', 'Relu', 'enc1_conv1', ...};
    `keras3`: the names of a traced Keras 3 model, its scopes' suffix removed."""
    parts = {part for piece in name.split(";") for part in piece.split("/")}
    return {KERAS3_SCOPE_SUFFIX.sub("", part) for part in parts} if keras3 else parts


def _keras_layer(model, tensor_name: str, keras3: bool):
    parts = _name_parts(tensor_name, keras3)
    return next((layer for layer in model.layers if layer.weights and layer.name in parts), None)


def layer_groups(model, calibrated: bytes) -> list[LayerGroup]:
    """The layer groups of a calibrated (or float) TFLite model, in graph order."""
    from ..artifacts.tflite import operators
    from ..models.flops import layer_macs
    from ..models.keras3 import is_keras3, tflite_source

    ops, _, _ = operators(calibrated)
    traced_keras3 = model is not None and is_keras3(tflite_source(model))  # the names of the model traced
    starts = [i for i, op in enumerate(ops) if op.name in WEIGHTED_OPS]
    groups = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(ops)
        head = ops[start]
        tensor = head.outputs[0].name
        layer = _keras_layer(model, tensor, traced_keras3) if model is not None else None
        macs = layer_macs(layer) if layer is not None else 0
        groups.append(LayerGroup(layer.name if layer is not None else tensor, start,
                                 tuple(t.name for op in ops[start:end] for t in op.outputs),
                                 macs or _op_macs(head)))
    if not groups:
        raise ValueError("the model has no convolution or dense layer to quantize")
    return groups


@quiet
def layer_errors(calibrated: bytes, images: np.ndarray, groups: Sequence[LayerGroup]) -> dict[str, dict]:
    """Per group: the MSE of its weighted op's int8 output against float, and the RMSE in
    quantization steps (RMSE / scale: above ~0.3 the layer loses more than rounding does), on the
    first ERROR_IMAGES of `images`."""
    from tensorflow.lite.python import convert
    from ..backend import tf
    from .tflite_int8 import representative

    debug_model = convert.mlir_quantize(calibrated, disable_per_channel=False, enable_numeric_verify=True)
    debugger = tf().lite.experimental.QuantizationDebugger(quant_debug_model_content=debug_model,
                                                           debug_dataset=representative(images[:ERROR_IMAGES]))
    debugger.run()
    dump = io.StringIO()
    debugger.layer_statistics_dump(dump)
    dump.seek(0)
    rows = {row["tensor_name"]: row for row in csv.DictReader(dump)}
    errors = {}
    for group in groups:
        row = rows.get(group.nodes[0])
        if row is None:
            continue
        mse, scale = float(row["mean_squared_error"]), float(row.get("scale") or 0)
        errors[group.name] = {"mse": mse, "rmse_steps": float(np.sqrt(mse) / scale) if scale > 0 else None}
    return errors


def dice_sensitivity(groups: Sequence[LayerGroup], score_float: Callable[[tuple[str, ...]], float]
                     ) -> tuple[float, dict[str, float]]:
    """(Dice with every group in float, per group: the Dice lost when that group alone is in int8).
    `score_float(nodes)` scores the int8 model with `nodes` in float."""
    every = tuple(node for g in groups for node in g.nodes)
    all_float = score_float(every)
    return all_float, {g.name: all_float - score_float(tuple(n for n in every if n not in set(g.nodes)))
                       for g in groups}


def rank(groups: Sequence[LayerGroup], dice: dict[str, float] | None, errors: dict[str, dict]) -> list[str]:
    """Group names, worst first: by the Dice it costs when measured, then by its int8 error."""
    def badness(g: LayerGroup):
        err = errors.get(g.name, {}).get("rmse_steps") or 0.0
        return ((dice or {}).get(g.name, 0.0), err)

    return [g.name for g in sorted(groups, key=badness, reverse=True)]


@dataclass
class Choice:
    float_layers: tuple[str, ...]
    score: float | None
    met: bool
    trail: list[dict]  # every step: the layers in float then, and the score


def choose_float_layers(ranked: Sequence[str], score_fn: Callable[[tuple[str, ...]], float], floor: float,
                        group: int = 1, limit: int | None = None, macs: dict[str, int] | None = None) -> Choice:
    """The stopping rule of the mixed-precision rung: put the worst layers in float, `group` at a
    time, until score_fn(float layers) >= floor, or `limit` layers (default: all) are float.
    When the floor is met, each float layer is then tried back in int8, the most MACs first (`macs`,
    else the last added first), and stays int8 where the floor still holds: a layer that helped only
    with the others (one side of a concatenation) goes back. When none meets the floor, the last
    step is returned, not met."""
    limit = len(ranked) if limit is None else min(limit, len(ranked))
    trail: list[dict] = []
    chosen: tuple[str, ...] = ()
    score = None
    for end in range(group, limit + group, group):
        chosen = tuple(ranked[:min(end, limit)])
        score = float(score_fn(chosen))
        trail.append({"float_layers": list(chosen), "score": score})
        if score >= floor:
            return _shrunk(Choice(chosen, score, True, trail), score_fn, floor, macs)
        if end >= limit:
            break
    return Choice(chosen, score, False, trail)


def _shrunk(choice: Choice, score_fn: Callable[[tuple[str, ...]], float], floor: float,
            macs: dict[str, int] | None) -> Choice:
    order = sorted(choice.float_layers, key=lambda n: -macs.get(n, 0)) if macs else list(reversed(choice.float_layers))
    scored = {frozenset(step["float_layers"]): step["score"] for step in choice.trail}
    chosen, score = choice.float_layers, choice.score
    for name in order:
        if len(chosen) <= 1:
            break  # no float layer at all is plain int8, which missed before this rung ran
        fewer = tuple(n for n in chosen if n != name)
        if frozenset(fewer) not in scored:
            scored[frozenset(fewer)] = float(score_fn(fewer))
            choice.trail.append({"float_layers": list(fewer), "score": scored[frozenset(fewer)], "back_in_int8": name})
        if scored[frozenset(fewer)] >= floor:
            chosen, score = fewer, scored[frozenset(fewer)]
    return Choice(chosen, score, True, choice.trail)


def int8_mac_share(groups: Sequence[LayerGroup], float_layers: Sequence[str]) -> float:
    total = sum(g.macs for g in groups)
    kept = sum(g.macs for g in groups if g.name not in set(float_layers))
    return kept / total if total else 1.0


def nodes_of(groups: Sequence[LayerGroup], names: Sequence[str]) -> tuple[str, ...]:
    wanted = set(names)
    return tuple(node for g in groups if g.name in wanted for node in g.nodes)


def onnx_nodes(float_path, layer_names: Sequence[str], keras3: bool = False) -> list[str]:
    """The ONNX nodes of Keras layers (tf2onnx names them `<model>/<layer>/...`), plus the
    weightless nodes after each up to the next Conv/MatMul/Gemm, as in the TFLite groups.
    `keras3`: the file was exported from a Keras 3 model (its scope names carry a suffix)."""
    import onnx

    nodes = onnx.load(str(float_path), load_external_data=False).graph.node
    wanted, picked, inside = set(layer_names), [], False
    for node in nodes:
        if node.op_type in ("Conv", "ConvTranspose", "MatMul", "Gemm"):
            inside = bool(wanted & _name_parts(node.name, keras3))
        if inside or wanted & _name_parts(node.name, keras3):
            picked.append(node.name)
    return picked
