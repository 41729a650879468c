"""A Keras 3 layer carried unchanged inside a tf_keras model.

A Keras 3 layer with no tf_keras twin (a KerasHub block, a user's custom layer) is not
translated: it runs as itself, on TensorFlow's backend, inside a tf_keras wrapper that owns its
variables. Evaluation, fine-tuning, channel pruning (its channels stay as they are), TFLite and
ONNX export see an ordinary tf_keras layer; tensorflow-model-optimization does not know it, so
magnitude pruning and tfmot QAT are skipped for models that carry one (see `islands`). A Keras 3
model that needs no tfmot is not rebuilt at all (models/keras3.py `as_tf_keras`, `carried_layers`).
"""
from __future__ import annotations

import json

import numpy as np

CLASS_NAME = "Keras3Island"
_CLASS = None
_KNOWN: dict = {}  # Keras 3 classes from --custom-objects files, by name


def remember(classes: dict) -> None:
    _KNOWN.update(classes)


def _zeros(shape):
    return np.zeros((1, *[int(d) for d in shape[1:]]), np.float32)


def _build_inputs(shapes):
    """Eager zero inputs of the recorded shapes: calling the layer on them builds every sublayer."""
    if shapes and isinstance(shapes[0], (list, tuple)):
        return [_zeros(s) for s in shapes]
    return _zeros(shapes)


def island_class():
    """The tf_keras wrapper class (made once, registered so that tf_keras files that carry it load)."""
    global _CLASS
    if _CLASS is not None:
        return _CLASS
    import keras
    import tf_keras

    @tf_keras.saving.register_keras_serializable(package="edgeseg")
    class Keras3Island(tf_keras.layers.Layer):
        def __init__(self, layer: dict, input_shapes: list, inner=None, **kwargs):
            kwargs.pop("dtype", None)
            super().__init__(**kwargs)
            # plain JSON values, kept out of tf_keras' tracking (which would wrap them in ListWrappers)
            layer, input_shapes = json.loads(json.dumps(layer)), json.loads(json.dumps(input_shapes))
            object.__setattr__(self, "layer_config", layer)
            object.__setattr__(self, "input_shapes", input_shapes)
            if inner is None:  # from a config: a fresh layer, built on zeros so its weights exist
                # without its build_config: a shape read back from JSON is a list, and some layers'
                # build() (KerasHub's SpatialPyramidPooling) add a tuple to it
                fresh = {k: v for k, v in layer.items() if k != "build_config"}
                inner = keras.saving.deserialize_keras_object(fresh, custom_objects=dict(_KNOWN))
                inner(_build_inputs(input_shapes))
            object.__setattr__(self, "inner", inner)  # kept out of tf_keras' tracking
            for variable in inner.trainable_weights:
                self._trainable_weights.append(variable.value)
            for variable in inner.non_trainable_weights:
                self._non_trainable_weights.append(variable.value)

        @classmethod
        def wrap(cls, inner, input_shapes):
            config = keras.saving.serialize_keras_object(inner)
            return cls(json.loads(json.dumps(config, default=list)), input_shapes, inner=inner, name=inner.name)

        def call(self, inputs, training=None):
            return self.inner(inputs, training=training if isinstance(training, bool) else None)

        def get_config(self):
            return {**super().get_config(), "layer": self.layer_config, "input_shapes": self.input_shapes}

    _CLASS = Keras3Island
    return _CLASS


def wrap(layer, input_shapes):
    """A tf_keras layer that runs the Keras 3 `layer` (already built) with its own weights."""
    return island_class().wrap(layer, input_shapes)


def islands(model) -> list[str]:
    """Names of the Keras 3 layers `model` carries as they are (nested models searched)."""
    found = []
    for layer in getattr(model, "layers", []):
        if type(layer).__name__ == CLASS_NAME:
            found.append(f"{layer.name} ({layer.inner.__class__.__name__})")
        elif hasattr(layer, "layers"):
            found.extend(islands(layer))
    return found


def custom_objects() -> dict:
    return {CLASS_NAME: island_class()}


__all__ = ["CLASS_NAME", "custom_objects", "island_class", "islands", "remember", "wrap"]
