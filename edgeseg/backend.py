"""The one place that sets TF_USE_LEGACY_KERAS and imports TensorFlow and tf_keras.

tensorflow-model-optimization needs Keras 2 (tf_keras); the variable must be set before
TensorFlow is first imported, so every module that needs TF goes through here.
"""
from __future__ import annotations

import os
import sys

from . import quiet

_LEGACY_FLAG = "TF_USE_LEGACY_KERAS"


def _prepare_environment() -> None:
    user_tf = sys.modules.get("tensorflow")
    if user_tf is not None and os.environ.get(_LEGACY_FLAG) != "1":
        # TensorFlow came first (a notebook). Its tf.keras is chosen lazily, on first use, from
        # this variable: resolve it now, as the user's environment means it (Keras 3), so that
        # setting the flag below for tfmot never changes what the user's tf.keras is. edgeseg
        # itself always uses tf_keras directly, which works either way.
        getattr(user_tf.keras, "Model", None)
    os.environ[_LEGACY_FLAG] = "1"
    quiet.configure()


ONEDNN_FLAG = "TF_ENABLE_ONEDNN_OPTS"


def without_onednn_for_training() -> bool:
    """Turns TensorFlow's oneDNN kernels off for a run that trains, unless the user chose either
    way. Issue 24: training a Conv2D with a 1x1 kernel and stride 2 (ResNet's projection
    shortcuts, attention gates) corrupts the heap in TF 2.21's oneDNN kernels: `double free or
    corruption`, `malloc(): corrupted top size` or a segfault within a few dozen steps, never with
    them off (benchmarks/onednn_abort.py). It must run before TensorFlow is imported; returns
    whether it is in effect."""
    if "tensorflow" in sys.modules:
        return os.environ.get(ONEDNN_FLAG) == "0"
    os.environ.setdefault(ONEDNN_FLAG, "0")
    return os.environ[ONEDNN_FLAG] == "0"


def tf():
    _prepare_environment()
    with quiet.quiet_native_stderr():
        import tensorflow
    tensorflow.get_logger().setLevel("ERROR")
    quiet.quiet_python_loggers()
    return tensorflow


def keras():
    tf()
    with quiet.quiet_native_stderr():
        import tf_keras

    return tf_keras


def tfmot():
    tf()
    with quiet.quiet_native_stderr():
        import tensorflow_model_optimization

    return tensorflow_model_optimization


def set_seed(seed: int) -> None:
    keras().utils.set_random_seed(seed)
