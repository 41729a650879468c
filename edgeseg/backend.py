"""The one place that sets TF_USE_LEGACY_KERAS and imports TensorFlow and tf_keras.

tensorflow-model-optimization needs Keras 2 (tf_keras); the variable must be set before
TensorFlow is first imported, so every module that needs TF goes through here.
"""
from __future__ import annotations

import os
import sys

_LEGACY_FLAG = "TF_USE_LEGACY_KERAS"


def _prepare_environment() -> None:
    if "tensorflow" in sys.modules and os.environ.get(_LEGACY_FLAG) != "1":
        # TF read the variable already; setting it now would be silently ignored.
        raise RuntimeError(
            "TensorFlow was imported before edgeseg could set TF_USE_LEGACY_KERAS=1; "
            "import edgeseg.backend first"
        )
    os.environ[_LEGACY_FLAG] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def tf():
    _prepare_environment()
    import tensorflow

    tensorflow.get_logger().setLevel("ERROR")
    return tensorflow


def keras():
    tf()
    import tf_keras

    return tf_keras


def tfmot():
    tf()
    import tensorflow_model_optimization

    return tensorflow_model_optimization


def set_seed(seed: int) -> None:
    keras().utils.set_random_seed(seed)
