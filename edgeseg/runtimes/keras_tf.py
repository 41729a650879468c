"""The float Keras model under TensorFlow on the CPU: the reference every artifact is compared with."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import module_available


class KerasSession:
    def __init__(self, path: Path, threads: int | None = None):
        from ..models.io import load_model

        self.model, self.spec = load_model(path)

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.model.predict(np.asarray(batch, np.float32), verbose=0)


class KerasCPU:
    name = "keras-cpu"
    device = "cpu"
    formats = ("keras",)

    def is_available(self) -> tuple[bool, str]:
        return module_available("tf_keras", "tf-keras")

    def load(self, path: Path, threads: int | None = None) -> KerasSession:
        return KerasSession(path, threads)
