"""Multiply-accumulates of a tf_keras model, read from its layer graph (batch 1). Only layers
with weights that multiply are counted (convolutions and dense layers); element-wise work is
left out, as in the usual GMAC figures. FLOPs = 2 x MACs. A Keras 3 layer carried as it is
(keras3_island.py) has no shapes to count from: it is left out and named by `uncounted_layers`,
so that a figure without it is never passed off as the whole."""
from __future__ import annotations

import numpy as np


def _spatial(shape) -> int:
    return int(np.prod([int(d) for d in shape[1:-1]])) if len(shape) > 2 else 1


def layer_macs(layer) -> int:
    kind = type(layer).__name__
    if hasattr(layer, "layers"):
        return model_macs(layer)
    if kind not in ("Conv2D", "Conv2DTranspose", "DepthwiseConv2D", "SeparableConv2D", "Dense"):
        return 0
    inp, out = layer.input.shape, layer.output.shape
    cin, cout = int(inp[-1]), int(out[-1])
    if kind == "Dense":
        return _spatial(inp) * cin * cout
    kh, kw = layer.kernel_size
    if kind == "Conv2D":
        return _spatial(out) * kh * kw * (cin // layer.groups) * cout
    if kind == "Conv2DTranspose":  # every input pixel scatters a kh x kw x cout patch
        return _spatial(inp) * kh * kw * cin * cout
    depthwise = _spatial(out) * kh * kw * cin * layer.depth_multiplier
    if kind == "DepthwiseConv2D":
        return depthwise
    return depthwise + _spatial(out) * cin * layer.depth_multiplier * cout


def uncounted_layers(model) -> list[str]:
    """Layers whose MACs are unknown (not in the figure): Keras 3 layers carried as they are."""
    from .keras3 import carried_layers

    return carried_layers(model)


def model_macs(model) -> int:
    return sum(layer_macs(layer) for layer in model.layers)


def model_flops(model) -> int:
    return 2 * model_macs(model)
