"""Nested models as one flat functional graph, for channel pruning.

Users' architectures nest: a MobileNetV2 encoder is a Model inside the U-Net, pix2pix upsample
blocks are Sequentials. Channel pruning reasons about one graph of layers, so every nested
`Model`/`Sequential` is replayed inline: each of its layers is cloned (same class, config and
weights) and called on the outer tensors. The flat model must compute what the nested one
computes: both are run on random inputs and a difference above FLAT_ATOL is refused. A Keras 3 model
is flattened with Keras 3 (its `keras.ops` calls are replayed as ops), a tf_keras one with tf_keras."""
from __future__ import annotations

from ..errors import ModelError, UsageError
from ..models.keras3 import keras_module, loaded_like, output_difference
from .graph_links import calls, from_config, map_tensors

FLAT_ATOL = 1e-5


def is_nested_model(layer) -> bool:
    return hasattr(layer, "layers") and hasattr(layer, "inputs")


def nests(model) -> bool:
    return any(is_nested_model(layer) for layer in model.layers)


class _Replay:
    def __init__(self):
        self.names: set[str] = set()
        self.pairs: list[tuple[object, object]] = []  # (original layer, its clone)

    def unique(self, name: str, scope: str) -> str:
        candidate = name if name not in self.names else f"{scope}_{name}"
        n = 1
        while candidate in self.names:
            candidate, n = f"{scope}_{name}_{n}", n + 1
        self.names.add(candidate)
        return candidate

    def clone(self, layer, scope: str):
        config = layer.get_config()
        config["name"] = self.unique(layer.name, scope)
        try:
            copy = from_config(layer, config)
        except Exception as exc:  # a custom layer without a working get_config/from_config
            raise UsageError(f"cannot flatten the nested model for channel pruning: layer {layer.name!r} "
                             f"({type(layer).__name__}) cannot be re-created from its config ({exc})") from exc
        self.pairs.append((layer, copy))
        return copy

    def model(self, model, inputs: list, scope: str) -> list:
        """The outputs of `model`'s layers replayed on `inputs` (outer tensors)."""
        if type(model).__name__ == "Sequential":
            x = inputs[0]
            for layer in model.layers:
                x = self.call(layer, [x], {}, model.name)
            return [x]
        tensors = {id(t): x for t, x in zip(model.inputs, inputs)}
        swap = lambda v: tensors[id(v)] if id(v) in tensors else v  # noqa: E731
        for call in calls(model):
            args = map_tensors(model, swap, call.args)
            kwargs = map_tensors(model, swap, call.kwargs)
            outputs = self.call(call.op, list(args), kwargs, model.name)
            flat = outputs if isinstance(outputs, (list, tuple)) else [outputs]
            for old, new in zip(call.outputs, flat):
                tensors[id(old)] = new
        return [tensors[id(t)] for t in model.outputs]

    def call(self, layer, args: list, kwargs: dict, scope: str):
        if is_nested_model(layer):
            inner = args[0] if len(args) == 1 else args
            inner = list(inner) if isinstance(inner, (list, tuple)) else [inner]
            outputs = self.model(layer, inner, layer.name)
            return outputs[0] if len(outputs) == 1 else outputs
        kwargs = {k: v for k, v in kwargs.items() if k != "training"}
        return self.clone(layer, scope)(*args, **kwargs)


def flatten_model(model, check: bool = True, seed: int = 0):
    """`model` itself when it is functional and nothing nests, else an equivalent flat functional model
    of the same Keras with the same weights (checked on random inputs); the given model is not changed."""
    if not nests(model) and type(model).__name__ != "Sequential":  # a Sequential's graph is replayed too
        return model
    if len(model.inputs) != 1:
        raise UsageError("channel pruning needs one input")
    K = keras_module(model)
    replay = _Replay()
    inp = K.Input(batch_shape=model.inputs[0].shape, name=model.inputs[0].name.split(":")[0])
    outputs = replay.model(model, [inp], model.name)
    flat = K.Model(inp, outputs[0] if len(outputs) == 1 else outputs, name=model.name)
    for original, copy in replay.pairs:
        copy.set_weights(original.get_weights())
    if check:
        check_equal(model, flat, seed)
    return loaded_like(flat, model)


def check_equal(model, flat, seed: int = 0, samples: int = 2) -> float:
    """Largest output difference between the nested and the flat model; above FLAT_ATOL, refused."""
    diff = output_difference(model, flat, samples, seed)
    if not diff <= FLAT_ATOL:
        raise ModelError(f"flattening the nested model for channel pruning changed its output by {diff:.3g} "
                         f"(allowed {FLAT_ATOL}); refusing to prune it")
    return diff


__all__ = ["FLAT_ATOL", "check_equal", "flatten_model", "nests"]
