"""TFLite conversion of float models: float32, float16 and dynamic-range weights.
Full-integer conversions live in edgeseg/quantize/tflite_int8.py."""
from __future__ import annotations

import functools
import warnings

from ..backend import tf


def quiet(convert):
    """Hides two known-harmless converter warnings so progress output stays readable, and the
    converter's C++ lines on fd 2 ('fully_quantize: ...') unless --verbose."""
    from ..quiet import quiet_native_stderr

    @functools.wraps(convert)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings(), quiet_native_stderr():
            warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
            return convert(*args, **kwargs)

    return wrapper


def _variables_of(model):
    """What the converter freezes the weights from. A Keras 3 model's variables wrap TensorFlow
    ones that tf's tracking does not see through: handed over as they are, they stay READ_VARIABLE
    ops in the file (which then fails calibration), so the TensorFlow variables are handed over."""
    if not type(model).__module__.startswith("keras"):
        return model  # tf_keras tracks its own
    holder = tf().Module()
    holder.weights = [v.value for v in model.weights]
    return holder


def converter_for(model):
    """Converts one traced call at a fixed batch of 1: every runtime here runs batch 1, the
    Edge TPU compiler refuses dynamic shapes, and tracing once is faster than from_keras_model's
    SavedModel round trip. A tf_keras or a Keras 3 model (see models/keras3.tflite_source: some
    Keras 3 layers are traced through the tf_keras rebuild)."""
    from ..models.keras3 import tflite_source

    model = tflite_source(model)
    tf_ = tf()
    signature = tf_.TensorSpec((1, *model.inputs[0].shape[1:]), tf_.float32, name="input")
    call = tf_.function(lambda x: model(x, training=False)).get_concrete_function(signature)
    return tf_.lite.TFLiteConverter.from_concrete_functions([call], _variables_of(model))


@quiet
def convert_float32(model) -> bytes:
    return converter_for(model).convert()


@quiet
def convert_float16(model) -> bytes:
    converter = converter_for(model)
    converter.optimizations = [tf().lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf().float16]
    return converter.convert()


@quiet
def convert_dynamic_range(model) -> bytes:
    converter = converter_for(model)
    converter.optimizations = [tf().lite.Optimize.DEFAULT]
    return converter.convert()


# precision -> converter, for the float targets of the compress plan
FLOAT_CONVERTERS = {"float32": convert_float32, "float16": convert_float16, "int8-weights": convert_dynamic_range}
