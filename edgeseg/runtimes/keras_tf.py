"""The float Keras model under TensorFlow, on the CPU or a GPU: the reference every artifact
is compared with. Inference goes through one traced tf.function, as a server would run it,
not through model.predict, whose per-call set-up would dominate batch-1 latency."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..artifacts.describe import TensorDesc
from ..errors import describe
from .base import module_present


class KerasSession:
    def __init__(self, path: Path, device: str, threads: int | None = None):
        from ..backend import tf
        from ..models.io import load_model

        tf_ = tf()
        if threads:
            try:  # only possible before TensorFlow's first op; later calls keep the first setting
                tf_.config.threading.set_intra_op_parallelism_threads(threads)
            except RuntimeError:
                pass
        # What TensorFlow will really use; None means its own default (every physical core).
        self.threads = tf_.config.threading.get_intra_op_parallelism_threads() or None
        self.device = device
        with tf_.device(device):
            self.model, self.spec = load_model(path, keep_keras3=True)  # a Keras 3 file runs as itself
        self._call = tf_.function(lambda x: self.model(x, training=False))
        self._tf = tf_

    def run(self, batch: np.ndarray) -> np.ndarray:
        with self._tf.device(self.device):
            return self._call(np.asarray(batch, np.float32)).numpy()

    @property
    def io(self) -> tuple[TensorDesc, TensorDesc]:
        def desc(tensor) -> TensorDesc:
            return TensorDesc(tensor.name, tuple(tensor.shape), "float32")

        return desc(self.model.inputs[0]), desc(self.model.outputs[0])


class KerasCPU:
    name = "keras-cpu"
    device = "cpu"
    formats = ("keras",)

    def is_available(self) -> tuple[bool, str]:
        ok, reason = module_present("tensorflow", "tensorflow")
        return (ok, reason) if not ok else module_present("tf_keras", "tf-keras")

    def load(self, path: Path, threads: int | None = None) -> KerasSession:
        return KerasSession(path, "/CPU:0", threads)


class TensorFlowGPU:
    name = "tf-gpu"
    device = "gpu"
    formats = ("keras",)

    def is_available(self) -> tuple[bool, str]:
        ok, reason = KerasCPU().is_available()
        if not ok:
            return ok, reason
        try:
            from ..backend import tf

            gpus = tf().config.list_physical_devices("GPU")
        except Exception as exc:  # a broken CUDA install fails here in many ways
            return False, f"TensorFlow could not list GPUs: {describe(exc)}"
        if not gpus:
            return False, "TensorFlow sees no GPU (a CPU-only build, or no CUDA driver/device)"
        return True, f"{reason}, {gpus[0].name}"

    def load(self, path: Path, threads: int | None = None) -> KerasSession:
        return KerasSession(path, "/GPU:0", threads)
