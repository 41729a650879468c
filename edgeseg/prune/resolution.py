"""The network run at a lower input resolution, inside a model that keeps the user's resolution.

On CPUs whose int8 convolution costs a floor per output pixel (XNNPACK int8 on AVX-512 VNNI: ~0.7 ms
per 3x3 convolution at 128x128 whatever its channels), removing channels cannot buy int8 speed,
but fewer pixels can. The wrapper resizes the input down by `scale` (bilinear: at 0.5 exactly the
2x2 average), runs the same fully convolutional network, with the same weights, at the smaller
size, and resizes its output back up (bilinear), so the artifact's input and output shapes (its
spec) stay the user's. Fine-tuning the wrapper end to end on full-resolution masks recovers what
the lower resolution loses.

A scale is an option only where the model can take it: the scaled size must be whole and
divisible by the model's total downsampling, and the network must run at it; otherwise
`ScaleRefused` says why (the search drops the option, it does not crash)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import describe
from ..models.keras3 import is_keras3, keras_module, output_difference


class ScaleRefused(ValueError):
    """The model cannot run at this input scale."""


@dataclass(frozen=True)
class ScaledSize:
    scale: float
    height: int
    width: int


def _spatial(shape) -> tuple[int, int] | None:
    dims = tuple(shape)
    if len(dims) != 4 or dims[1] is None or dims[2] is None:
        return None
    return int(dims[1]), int(dims[2])


def total_downsampling(model) -> int:
    """How many times the model divides its input's height at most (8 for a depth-3 U-Net):
    the input height over the smallest height any layer outputs."""
    height = _spatial(model.inputs[0].shape)[0]
    smallest = height
    for layer in model.layers:
        outputs = layer.output if isinstance(layer.output, (list, tuple)) else [layer.output]
        for out in outputs:
            size = _spatial(getattr(out, "shape", ()))
            if size and size[0] > 1:  # a 1x1 map is global pooling (squeeze-excite, ASPP's image branch)
                smallest = min(smallest, size[0])
    return max(1, height // max(1, smallest))


def scaled_size(model, scale: float) -> ScaledSize:
    """The size the network runs at for `scale`, or ScaleRefused when the model cannot take it."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ScaleRefused("a resolution scale needs one input and one output")
    size = _spatial(model.inputs[0].shape)
    if size is None:
        raise ScaleRefused("a resolution scale needs a fixed 4-D input shape")
    if not 0 < scale < 1:
        raise ScaleRefused(f"scale {scale} is not between 0 and 1")
    step = total_downsampling(model)
    scaled = []
    for dim in size:
        value = dim * scale
        if abs(value - round(value)) > 1e-6 or round(value) % step:
            raise ScaleRefused(f"scale {scale} gives {value:g} pixels from {dim}: not a whole multiple of the "
                               f"model's downsampling ({step})")
        scaled.append(int(round(value)))
    return ScaledSize(scale, *scaled)


def _run_at(model, x):
    """`model`'s layers on `x`, as one flat graph, never touching `model`'s weights. Both Kerases
    check a model's input shape when it is called, so its graph is replayed instead: tf_keras
    layer by layer into copies (flatten.py's replay; pruning, quantization and float ends reason
    about one graph), Keras 3 through the graph of a clone (its layers then belong to the result)."""
    if is_keras3(model):
        from .graph_links import from_config

        # clone_function: a Lambda's function is read back outside safe mode (the one this process holds)
        copy = keras_module(model).models.clone_model(model, clone_function=lambda layer: from_config(
            layer, layer.get_config()))
        for layer in model.layers:  # by name: a KerasHub model lists its weights in another order than its clone
            if layer.weights:
                copy.get_layer(layer.name).set_weights(layer.get_weights())
        _check_same(model, copy)
        y = copy._run_through_graph([x], operation_fn=lambda op: op)  # noqa: SLF001 - Keras 3's graph walk
        return (y[0] if isinstance(y, (list, tuple)) else y), ()
    from .flatten import _Replay

    replay = _Replay()
    return replay.model(model, [x], model.name)[0], replay.pairs


def _check_same(model, copy, atol: float = 1e-5) -> None:
    """The copy computes what the model computes (at the model's own size), or ScaleRefused."""
    diff = output_difference(model, copy, samples=1)
    if not diff <= atol:
        raise ScaleRefused(f"a copy of the network disagrees with it by {diff:.3g}; it cannot be run at another size")


def at_scale(model, scale: float):
    """A new model: input at the model's resolution -> resize down by `scale` -> `model`'s layers
    -> resize back up: one flat graph with copies of `model`'s weights (`model` is not changed)."""
    size = scaled_size(model, scale)
    K = keras_module(model)
    height, width = _spatial(model.inputs[0].shape)
    channels = int(model.inputs[0].shape[-1])
    inp = K.Input(shape=(height, width, channels), name=f"{model.name}_input_full")
    x = K.layers.Resizing(size.height, size.width, interpolation="bilinear", name="resolution_down")(inp)
    try:
        y, pairs = _run_at(model, x)
        if _spatial(y.shape) != (size.height, size.width):
            raise ScaleRefused(f"at {size.height}x{size.width} the network outputs {tuple(y.shape)[1:3]}: "
                               "its output does not follow its input's size")
        y = K.layers.Resizing(height, width, interpolation="bilinear", name="resolution_up")(y)
        wrapped = K.Model(inp, y, name=f"{model.name}_x{scale:g}")
        for original, copy in pairs:  # weights shaped by the input's size (PReLU's default alpha) do not fit
            copy.set_weights(original.get_weights())
    except ScaleRefused:
        raise
    except Exception as exc:  # a layer with a fixed spatial size (Reshape, Dense, PReLU): not fully convolutional
        raise ScaleRefused(f"the network does not run at {size.height}x{size.width}: {describe(exc)}") from exc
    return wrapped


def runnable_scales(model, scales, min_side: int = 1) -> tuple[dict[float, object], dict[float, str]]:
    """({scale: its wrapper, built and run}, {scale: why not}): usable_scales, less the scales whose
    wrapper cannot be built or run, or returns another shape than the model's (weights or a graph
    tied to the input's size), so the search drops them instead of failing on them."""
    sizes, refused = usable_scales(model, scales, min_side)
    kept = {}
    for scale in sizes:
        try:
            kept[scale] = at_scale(model, scale)
            check_shapes(model, kept[scale])
        except Exception as exc:  # ScaleRefused, or a Keras error only calling the wrapper shows
            kept.pop(scale, None)
            refused[scale] = (str(exc) if isinstance(exc, ScaleRefused) else
                              f"the network does not run at that size: {describe(exc)}")
    return kept, refused


def scale_of(model) -> float:
    """1.0 for a model not made by at_scale, else the scale its resolution_down layer runs at."""
    names = {layer.name: layer for layer in model.layers}
    down = names.get("resolution_down")
    if down is None:
        return 1.0
    return round(int(down.output.shape[1]) / int(model.inputs[0].shape[1]), 6)


def usable_scales(model, scales, min_side: int = 1) -> tuple[dict[float, ScaledSize], dict[float, str]]:
    """The scales `model` can take with both scaled sides at least `min_side` ({scale: size}) and
    those it cannot ({scale: why})."""
    kept, refused = {}, {}
    for scale in scales:
        try:
            size = scaled_size(model, float(scale))
        except ScaleRefused as exc:
            refused[float(scale)] = str(exc)
            continue
        if min(size.height, size.width) < min_side:
            refused[float(scale)] = (f"scale {scale:g} gives {size.height}x{size.width}, below the search's "
                                     f"{min_side}-pixel minimum side")
        else:
            kept[float(scale)] = size
    return kept, refused


def check_shapes(original, wrapped, samples: int = 1) -> None:
    """The wrapper takes and returns what the original does (its spec is unchanged)."""
    shape = tuple(int(d) for d in original.inputs[0].shape[1:])
    x = np.zeros((samples, *shape), np.float32)
    a, b = np.asarray(original(x, training=False)), np.asarray(wrapped(x, training=False))
    if a.shape != b.shape:
        raise ScaleRefused(f"the scaled model returns {b.shape}, the original {a.shape}")


def scale_and_finetune(model, scale: float, train, val, budget, batch_size: int, classes: int,
                       target_dice: float | None = None, seed: int = 0, verbose: int = 1, log=print,
                       task=None, step_scale: float = 1.0, **distill):
    """at_scale, then `finetune` end to end on the full-resolution masks, as channel pruning
    recovers (its result type, nothing removed: kept and frozen empty). The step budget grows with
    the share of pixels removed (1 - scale**2) as channel pruning's does with the share of filters."""
    from ..training.finetune import finetune
    from .channels import ChannelPruneResult
    from .progressive import scaled_budget

    wrapped, size = at_scale(model, scale), scaled_size(model, scale)
    budget = scaled_budget(budget, 1.0 - scale * scale, step_scale)
    if verbose:
        log(f"      input scale {scale:g}: the network at {size.height}x{size.width}, step budget {budget.max_steps}")
    distill = {k: v for k, v in distill.items() if k in ("teacher", "distill_weight", "unlabeled")}
    tuned = finetune(wrapped, train, val, budget, classes, batch_size, target_dice, seed, verbose, log=log,
                     task=task, **distill)
    return ChannelPruneResult(wrapped, 0.0, {}, [], tuned)


__all__ = ["ScaleRefused", "ScaledSize", "at_scale", "check_shapes", "runnable_scales", "scale_and_finetune", "scale_of",
           "scaled_size", "total_downsampling", "usable_scales"]
