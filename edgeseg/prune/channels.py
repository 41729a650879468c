"""Structured (filter) pruning: whole filters are removed, giving a smaller dense model of the same
Keras (a Keras 3 model stays Keras 3, a tf_keras one tf_keras) that every runtime runs faster, not
only after compression.

It works on the dependency graph of any functional model, not on one architecture (nested
Models and Sequentials are first flattened into one graph, see flatten.py):
- a *channel space* is the set of channels one layer creates (Conv2D, Conv2DTranspose,
  SeparableConv2D, Dense);
- layers that keep channels one to one (BatchNorm, activations, pooling, upsampling, padding,
  dropout, depthwise convolution) pass a space through; Concatenate joins spaces side by side;
  Add/Multiply/... force their inputs' spaces to keep the same channels (they are merged), except a
  one-channel input broadcast over the others (an attention gate's map, a pooled scale);
- spaces that reach a model output, the input, or a layer this table does not know are frozen: an
  unknown layer freezes only the channel groups it touches, and the rest is still pruned.
The share of multiply-accumulates in layers that touch a prunable group is reported (prunable_macs).
Filters are ranked per merged space by their L1 norm (or |gamma| of the BatchNorm that reads
them), each producer normalized to its largest filter, and the weakest are cut from every
producer and every consumer of the space."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import UsageError
from ..models.flops import layer_macs
from ..models.keras3 import keras_module, loaded_like
from .flatten import flatten_model
from .graph_links import from_config, inbound_tensors, op_kind, operations

PRODUCERS = {"Conv2D": "filters", "Conv2DTranspose": "filters", "SeparableConv2D": "filters", "Dense": "units"}
PASSTHROUGH = {"BatchNormalization", "Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Dropout", "SpatialDropout2D",
               "GaussianNoise", "MaxPooling2D", "AveragePooling2D", "UpSampling2D", "ZeroPadding2D", "Cropping2D",
               "Resizing", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "DepthwiseConv2D", "Rescaling"}
MERGES = {"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"}
# tf_keras records TensorFlow ops called on symbolic tensors (tf.image.resize, x * y) as TFOpLambda
# layers named by their function: those that keep channels one to one, and those that merge. Keras 3's
# `keras.ops` calls are named the same way (graph_links.KERAS3_OPS).
OP_PASSTHROUGH = {"image.resize", "compat.v1.image.resize", "compat.v1.image.resize_bilinear", "nn.relu",
                  "nn.relu6", "math.sigmoid", "nn.sigmoid", "math.tanh", "nn.silu", "nn.swish",
                  "nn.leaky_relu", "math.abs", "nn.max_pool2d", "nn.avg_pool2d", "identity",
                  "__operators__.add", "math.add", "math.multiply", "math.subtract", "math.maximum",
                  "math.minimum", "math.truediv", "math.divide"}  # the arithmetic ones with one tensor and a constant
OP_MERGES = {"__operators__.add", "math.add", "math.add_n", "math.multiply", "math.subtract", "math.maximum",
             "math.minimum"}
Layout = tuple[int, ...]  # the channel spaces of a tensor's last axis, in order


@dataclass
class _Graph:
    sizes: list[int] = field(default_factory=list)
    parent: list[int] = field(default_factory=list)
    frozen: set[int] = field(default_factory=set)
    producers: dict[int, list[str]] = field(default_factory=dict)  # space -> layers that create it

    def new(self, size: int, producer: str | None = None, frozen: bool = False) -> int:
        self.sizes.append(size)
        self.parent.append(len(self.parent))
        space = len(self.sizes) - 1
        self.producers[space] = [producer] if producer else []
        if frozen:
            self.frozen.add(space)
        return space

    def find(self, space: int) -> int:
        while self.parent[space] != space:
            self.parent[space] = self.parent[self.parent[space]]
            space = self.parent[space]
        return space

    def union(self, a: int, b: int) -> None:
        a, b = self.find(a), self.find(b)
        if a != b:
            self.parent[b] = a
            self.producers[a] += self.producers.pop(b)
            if b in self.frozen:
                self.frozen.add(a)

    def freeze(self, layout: Layout) -> None:
        self.frozen.update(self.find(s) for s in layout)

    def is_frozen(self, space: int) -> bool:
        return self.find(space) in self.frozen


def _analyse(model) -> tuple[_Graph, dict[int, Layout], dict[str, list[Layout]]]:
    """(spaces, tensor id -> layout, layer name -> its input layouts) of a flat model."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UsageError("channel pruning needs one input and one output")
    graph, layouts, consumed = _Graph(), {}, {}
    for layer in operations(model):
        kind = op_kind(layer)
        out_channels = int(layer.output.shape[-1])
        if kind == "InputLayer":
            layouts[id(layer.output)] = (graph.new(out_channels, frozen=True),)
            continue
        ins = [layouts[id(t)] for t in inbound_tensors(layer)]
        consumed[layer.name] = ins
        config = {} if kind.startswith("op:") else layer.get_config()
        if kind in PRODUCERS and config.get("groups", 1) == 1:
            layout = (graph.new(out_channels, producer=layer.name),)
        elif _passes_through(layer, kind, config, ins, graph, out_channels):
            layout = ins[0]
        elif kind == "Concatenate" and config.get("axis") in (-1, len(layer.output.shape) - 1):
            layout = tuple(s for lay in ins for s in lay)
        elif (kind in MERGES or kind.removeprefix("op:") in OP_MERGES) and len(ins) > 1 \
                and (merged := _merge(graph, ins, out_channels)) is not None:
            layout = merged
        else:  # a layer this table does not know: leave every channel it touches alone
            for lay in ins:
                graph.freeze(lay)
            layout = (graph.new(out_channels, frozen=True),)
        if sum(graph.sizes[s] for s in layout) != out_channels:
            raise UsageError(f"channel bookkeeping failed at {layer.name}")  # a bug, never user input
        layouts[id(layer.output)] = layout
    graph.freeze(layouts[id(model.outputs[0])])
    return graph, layouts, consumed


def _passes_through(layer, kind: str, config: dict, ins: list[Layout], graph: _Graph, out_channels: int) -> bool:
    """Does the layer keep its one input's channels one to one?"""
    if len(ins) != 1 or sum(graph.sizes[s] for s in ins[0]) != out_channels:
        return False
    if kind == "Reshape":  # (C,) -> (1, 1, C) before a broadcast, say: only the spatial axes change
        return tuple(config.get("target_shape", ()))[-1:] == (out_channels,)
    if kind.startswith("op:"):
        return kind.removeprefix("op:") in OP_PASSTHROUGH
    return kind in PASSTHROUGH and _keeps_channels(layer, kind, config)


def _merge(graph: _Graph, ins: list[Layout], out_channels: int) -> Layout | None:
    """The layout of an element-wise merge: its full-width inputs keep the same channels
    (merged); a one-channel input broadcast over them (a gate) keeps its own, frozen."""
    wide = [lay for lay in ins if sum(graph.sizes[s] for s in lay) == out_channels]
    narrow = [lay for lay in ins if sum(graph.sizes[s] for s in lay) == 1]
    if not wide or len(wide) + len(narrow) != len(ins) or not _same_shape(graph, wide):
        return None
    for other in wide[1:]:
        for a, b in zip(wide[0], other):
            graph.union(a, b)
    if out_channels > 1:
        for lay in narrow:
            graph.freeze(lay)
    return wide[0]


def _keeps_channels(layer, kind: str, config: dict) -> bool:
    if kind == "DepthwiseConv2D":
        return config.get("depth_multiplier", 1) == 1
    if kind == "BatchNormalization":
        axis = config.get("axis")
        return axis in (-1, [-1], 3, [3])
    if kind == "Activation":
        return config.get("activation") not in ("softmax", "log_softmax")
    if kind == "Rescaling":
        return np.ndim(config.get("scale", 1.0)) == 0 and np.ndim(config.get("offset", 0.0)) == 0
    return True


def _same_shape(graph: _Graph, ins: list[Layout]) -> bool:
    first = [graph.sizes[s] for s in ins[0]]
    return all([graph.sizes[s] for s in lay] == first for lay in ins[1:])


def _filter_scores(model, graph: _Graph, layouts: dict[int, Layout],
                   measured: dict[str, np.ndarray] | None = None) -> dict[int, np.ndarray]:
    """Merged space -> score per channel, summed over its producers (each scaled to max 1).
    `measured` (producer name -> score per filter, e.g. from ranking.py) replaces the norms."""
    gammas = {}
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization" and layer.scale:
            source = inbound_tensors(layer)[0]
            gammas[id(source)] = np.abs(layer.gamma.numpy())
    scores: dict[int, np.ndarray] = {}
    for layer in model.layers:
        if type(layer).__name__ not in PRODUCERS or layer.name not in sum(graph.producers.values(), []):
            continue
        space = graph.find(layouts[id(layer.output)][0])
        if space in graph.frozen:
            continue
        norm = (measured or {}).get(layer.name, gammas.get(id(layer.output)))
        if norm is None:
            kernel = layer.get_weights()[1] if type(layer).__name__ == "SeparableConv2D" else layer.get_weights()[0]
            axis = 2 if type(layer).__name__ == "Conv2DTranspose" else kernel.ndim - 1
            norm = np.abs(np.moveaxis(kernel, axis, -1)).reshape(-1, kernel.shape[axis]).sum(axis=0)
        norm = norm / max(float(norm.max()), 1e-12)
        scores[space] = scores.get(space, 0) + norm
    return scores


@dataclass
class ChannelPruneResult:
    model: object  # new tf_keras model with fewer filters
    ratio: float
    kept: dict[str, tuple[int, int]]  # producer layer -> (filters kept, filters before)
    frozen: list[str]  # producers whose filters were all kept
    finetune: object = None  # FinetuneResult when the model was fine-tuned
    prunable_macs: float | None = None  # share of the original's MACs in layers that touch a prunable group


def kept_count(filters: int, ratio: float, multiple: int = 1) -> int:
    """Filters a space keeps: (1 - ratio) of them, rounded to a multiple of `multiple` (a SIMD
    width) when asked, never below one multiple nor above what the space has."""
    count = max(1, int(round(filters * (1 - ratio))))
    if multiple > 1:
        count = max(multiple, int(round(count / multiple)) * multiple)
    return min(filters, count)


def _plan(model, ratio: float, measured: dict[str, np.ndarray] | None = None, multiple: int = 1,
          counts: dict[str, int] | None = None):
    """(graph, layouts, layer -> kept output channels, layer -> kept channels of each input,
    prunable share of the MACs) of a flat model. `counts` (a space's name -> kept filters, see
    channel_spaces) overrides the ratio per space."""
    if counts is None and not 0.0 < ratio < 1.0:
        raise UsageError(f"--channel-ratio must be in (0, 1), got {ratio}")
    graph, layouts, consumed = _analyse(model)
    names = _space_names(graph)
    keep: dict[int, np.ndarray] = {}
    for space, score in _filter_scores(model, graph, layouts, measured).items():
        if counts is not None:
            count = min(len(score), max(1, int(counts.get(names[space], len(score)))))
        else:
            count = kept_count(len(score), ratio, multiple)
        keep[space] = np.sort(np.argsort(-score, kind="stable")[:count])

    def kept(layout: Layout) -> np.ndarray:
        parts, offset = [], 0
        for space in layout:
            parts.append(offset + keep.get(graph.find(space), np.arange(graph.sizes[space])))
            offset += graph.sizes[space]
        return np.concatenate(parts) if parts else np.arange(0)

    out_keep = {layer.name: kept(layouts[id(layer.output)]) for layer in model.layers}
    in_keep = {name: [kept(lay) for lay in ins] for name, ins in consumed.items()}
    return graph, layouts, out_keep, in_keep, prunable_macs(model, graph, layouts, consumed)


def prunable_macs(model, graph: _Graph, layouts: dict[int, Layout], consumed: dict[str, list[Layout]]) -> float:
    """Share of the MACs in layers whose input or output channels belong to a prunable group."""
    total = prunable = 0
    for layer in model.layers:
        macs = layer_macs(layer)
        spaces = [*layouts[id(layer.output)], *(s for lay in consumed.get(layer.name, []) for s in lay)]
        total += macs
        prunable += macs if any(not graph.is_frozen(s) for s in spaces) else 0
    return prunable / total if total else 0.0


def prunable_share(model) -> float:
    """prunable_macs of `model` (nested models flattened), before anything is removed."""
    flat = flatten_model(model)
    return prunable_macs(flat, *_analyse(flat))


def _space_names(graph: _Graph) -> dict[int, str]:
    """Merged space -> its name: the first layer (in model order) that produces it."""
    return {graph.find(space): producers[0] for space, producers in graph.producers.items() if producers}


def space_scores(model, measured: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """The prunable channel spaces in model order: name (first producer) -> score per channel (as
    the ratio's ranking sees it). A space is what per-layer choices (per_layer.py) give a count to."""
    model = flatten_model(model)
    graph, layouts, _ = _analyse(model)
    names = _space_names(graph)
    return {names[space]: score for space, score in _filter_scores(model, graph, layouts, measured).items()}


def channel_spaces(model) -> dict[str, int]:
    """The prunable channel spaces: name -> channels, in model order."""
    return {name: len(score) for name, score in space_scores(model).items()}


def channel_plan(model, ratio: float) -> dict[str, np.ndarray]:
    """Layer name -> the output channels it keeps (indices into its original output, and the
    names of the flat model when `model` nests others)."""
    return _plan(flatten_model(model), ratio)[2]


def prune_channels(model, ratio: float, measured: dict[str, np.ndarray] | None = None,
                   multiple: int = 1, counts: dict[str, int] | None = None) -> ChannelPruneResult:
    """A new, smaller model with `ratio` of the filters removed from every prunable space (or each
    space cut to its entry in `counts`), of the given model's Keras; the given model is not changed
    (a nested one is flattened first: the result is flat)."""
    given, model = model, flatten_model(model)
    graph, layouts, out_keep, in_keep, share = _plan(model, ratio, measured, multiple, counts)

    def clone(layer):  # Keras 3 hands its non-layer ops here too: a `keras.ops` reshape is no Reshape layer
        config, kind = layer.get_config(), op_kind(layer)
        attr = PRODUCERS.get(kind)
        if attr:
            config[attr] = int(len(out_keep[layer.name]))
        if kind == "Reshape":  # it passes channels through, and names their count
            config["target_shape"] = (*config["target_shape"][:-1], int(len(out_keep[layer.name])))
        return from_config(layer, config)

    smaller = loaded_like(keras_module(model).models.clone_model(model, clone_function=clone), given)
    for old in model.layers:
        if old.weights:
            smaller.get_layer(old.name).set_weights(
                _slice(old, in_keep.get(old.name, [None])[0], out_keep[old.name]))
    kept_counts = {n: (int(len(out_keep[n])), graph.sizes[layouts[id(model.get_layer(n).output)][0]])
                   for n in sum(graph.producers.values(), [])}
    frozen = sorted(n for n, (k, total) in kept_counts.items() if k == total)
    return ChannelPruneResult(smaller, ratio, kept_counts, frozen, prunable_macs=share)


def _slice(layer, inp: np.ndarray | None, out: np.ndarray) -> list[np.ndarray]:
    kind, weights = type(layer).__name__, layer.get_weights()
    if kind == "Conv2D":
        return [weights[0][:, :, inp][..., out]] + [b[out] for b in weights[1:]]
    if kind == "Conv2DTranspose":  # kernel is (h, w, out, in)
        return [weights[0][:, :, out][:, :, :, inp]] + [b[out] for b in weights[1:]]
    if kind == "SeparableConv2D":
        multiplier = weights[0].shape[-1]
        rows = (inp[:, None] * multiplier + np.arange(multiplier)).ravel()
        return [weights[0][:, :, inp], weights[1][:, :, rows][..., out]] + [b[out] for b in weights[2:]]
    if kind == "Dense":
        return [weights[0][inp][:, out]] + [b[out] for b in weights[1:]]
    if kind == "DepthwiseConv2D":
        return [weights[0][:, :, inp]] + [b[out] for b in weights[1:]]
    if kind in ("BatchNormalization", "PReLU"):
        return [w[..., out] for w in weights]
    return weights  # a frozen layer of another kind keeps every channel


__all__ = ["ChannelPruneResult", "channel_plan", "channel_spaces", "prune_channels", "space_scores"]
