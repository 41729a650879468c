"""How a functional model's layer graph is read, for code that serves tf_keras and Keras 3 alike.

Both Kerases keep the same graph under other names: tf_keras records each call as a node with
`node.layer`, `call_args`/`call_kwargs` and `keras_inputs`, and a TensorFlow op called on symbolic
tensors (x * y, tf.image.resize) as a TFOpLambda *layer* named by its function; Keras 3 records
`node.operation`, `node.arguments` and `input_tensors`, and a `keras.ops` call as an Operation that
is not a layer (it is in `model.operations`, not in `model.layers`), whose class name can be a
layer's (`Add`, `Multiply`). Channel pruning, flattening and feature distillation read the graph
only through this module."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError
from ..models.keras3 import is_keras3

# Keras 3 ops (module.Class) -> the name tf_keras gives the same TensorFlow op, so that one table
# (channels.py OP_PASSTHROUGH / OP_MERGES) describes both. Those of `numpy` take only tensors and
# scalars here: a constant with channels (x * per-channel weights) is not mapped, and freezes.
KERAS3_OPS = {
    "numpy.Add": "math.add", "numpy.Multiply": "math.multiply", "numpy.Subtract": "math.subtract",
    "numpy.Maximum": "math.maximum", "numpy.Minimum": "math.minimum", "numpy.Divide": "math.truediv",
    "numpy.TrueDivide": "math.truediv", "numpy.Absolute": "math.abs", "numpy.Abs": "math.abs",
    "numpy.Tanh": "math.tanh", "image.Resize": "image.resize", "nn.Relu": "nn.relu", "nn.Relu6": "nn.relu6",
    "nn.Sigmoid": "math.sigmoid", "nn.Silu": "nn.silu", "nn.LeakyRelu": "nn.leaky_relu",
    "nn.MaxPool": "nn.max_pool2d", "nn.AveragePool": "nn.avg_pool2d",
}
TF_OP_LAYERS = ("TFOpLambda", "SlicingOpLambda")


def _is_layer(op) -> bool:
    import keras

    return isinstance(op, keras.layers.Layer)


def model_input(model):
    """The model's input tensor, or its list when it has several (Keras 3 warns on a list of one)."""
    return model.inputs[0] if len(model.inputs) == 1 else model.inputs


def operations(model) -> list:
    """Every call of the model's graph in order: its layers, and for Keras 3 its non-layer ops too."""
    return list(model.operations) if is_keras3(model) and hasattr(model, "operations") else list(model.layers)


def _only_node(op):
    if len(op._inbound_nodes) != 1:  # noqa: SLF001 - both Kerases' graph links
        raise UsageError(f"channel pruning needs each layer used once; {op.name} is shared")
    return op._inbound_nodes[0]  # noqa: SLF001


def inbound_tensors(op) -> list:
    """The symbolic tensors a layer (or op) is called on; it must be called once."""
    node = _only_node(op)
    return list(node.input_tensors if is_keras3(op) else node.keras_inputs)


def _scalar_constants(node) -> bool:
    import keras
    import numpy as np

    return all(np.ndim(v) == 0 for v in keras.tree.flatten((node.arguments.args, node.arguments.kwargs))
               if not isinstance(v, keras.KerasTensor))


def op_kind(op) -> str:
    """The layer's class name, or for an op "op:" and the TensorFlow function tf_keras names it by
    (an unmapped Keras 3 op: "op:keras." and its module.Class, which no table knows)."""
    kind = type(op).__name__
    if not is_keras3(op):
        return f"op:{op.get_config().get('function')}" if kind in TF_OP_LAYERS else kind
    if _is_layer(op):
        return kind
    key = f"{type(op).__module__.rsplit('.', 1)[-1]}.{kind}"
    mapped = KERAS3_OPS.get(key)
    if mapped and key.startswith("numpy.") and not _scalar_constants(_only_node(op)):
        mapped = None
    return f"op:{mapped or 'keras.' + key}"


def consumers(layer) -> list:
    """The layers (or ops) that read the layer's outputs."""
    if is_keras3(layer):
        return [node.operation for node in layer._outbound_nodes]  # noqa: SLF001
    return [node.outbound_layer for node in layer._outbound_nodes]  # noqa: SLF001


def inbound_layers(layer) -> list:
    """The layers (or ops) whose outputs the layer's first call reads."""
    if is_keras3(layer):
        return [node.operation for node in layer._inbound_nodes[0].parent_nodes]  # noqa: SLF001
    inbound = layer._inbound_nodes[0].inbound_layers  # noqa: SLF001
    return list(inbound) if isinstance(inbound, (list, tuple)) else [inbound]


def from_config(layer, config: dict):
    """A new layer (or op) of the layer's class from `config`. A Keras 3 Lambda's function is read back
    from its config only outside safe mode: it is the function this process already holds (the model was
    built here, or loaded under --unsafe), so nothing new runs."""
    if not is_keras3(layer):
        return type(layer).from_config(config)
    from keras.src.saving.serialization_lib import SafeModeScope

    with SafeModeScope(False):
        return type(layer).from_config(config)


@dataclass(frozen=True)
class Call:
    """One call of a graph: the layer (or op), its arguments and its output tensors."""

    op: object
    args: tuple
    kwargs: dict
    outputs: list


def calls(model) -> list[Call]:
    """The calls of a functional model in execution order, the input layers left out."""
    found = []
    for depth in sorted(model._nodes_by_depth, reverse=True):  # noqa: SLF001 - both Kerases' graph order
        for node in model._nodes_by_depth[depth]:  # noqa: SLF001
            if is_keras3(model):
                op, args, kwargs = node.operation, node.arguments.args, node.arguments.kwargs
            else:
                op, args, kwargs = node.layer, node.call_args, node.call_kwargs
            if type(op).__name__ == "InputLayer":
                continue
            outputs = node.outputs if isinstance(node.outputs, (list, tuple)) else [node.outputs]
            found.append(Call(op, tuple(args), dict(kwargs), list(outputs)))
    return found


def map_tensors(model, fn, structure):
    """`structure` (call arguments) with `fn` applied to every leaf, as the model's Keras nests them."""
    if is_keras3(model):
        import keras

        return keras.tree.map_structure(fn, structure)
    from ..backend import tf

    return tf().nest.map_structure(fn, structure)


__all__ = ["Call", "KERAS3_OPS", "calls", "consumers", "from_config", "inbound_layers", "inbound_tensors",
           "map_tensors", "model_input", "op_kind", "operations"]
