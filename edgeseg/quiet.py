"""Keeping TensorFlow's start-up text off the user's terminal unless --verbose.

TensorFlow's C++ side writes its first lines (oneDNN, CUDA probing, `E0000 ... cuInit`) to
file descriptor 2 before absl logging is initialised, so TF_CPP_MIN_LOG_LEVEL alone cannot
hide them: the import itself runs with fd 2 pointed at /dev/null. Nothing here imports
TensorFlow."""
from __future__ import annotations

import glob
import os
import sys
from contextlib import contextmanager

VERBOSE_ENV = "EDGESEG_VERBOSE"


def is_verbose() -> bool:
    return os.environ.get(VERBOSE_ENV) == "1"


def has_gpu_device_nodes() -> bool:
    """NVIDIA (/dev/nvidia*) or ROCm (/dev/kfd) device nodes: a GPU this process could use."""
    return bool(glob.glob("/dev/nvidia*")) or os.path.exists("/dev/kfd")


def configure(verbose: bool | None = None) -> None:
    """Sets the environment TensorFlow reads at import. Call before TensorFlow is imported;
    afterwards it changes nothing TensorFlow already read."""
    if verbose is not None:
        os.environ[VERBOSE_ENV] = "1" if verbose else "0"
    if is_verbose():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # Without device nodes CUDA can only fail; hiding the devices skips the cuInit probe and its
    # error line. With a GPU present nothing is changed, so the GPU is still used.
    if not has_gpu_device_nodes():
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


@contextmanager
def quiet_native_stderr():
    """Points fd 2 at /dev/null for the duration (unless verbose); Python's own exceptions are
    raised after it is restored, so a failed import still reaches the user."""
    if is_verbose():
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (some notebook kernels): nothing to hide
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_python_loggers() -> None:
    """absl and TensorFlow's Python loggers: errors only, unless verbose."""
    if is_verbose():
        return
    import logging

    for name in ("absl", "tensorflow", "tf2onnx", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:
        pass
