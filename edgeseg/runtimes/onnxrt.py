"""onnxruntime with the CPU execution provider."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import module_available


class OnnxSession:
    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime as ort

        ort.set_default_logger_severity(3)  # tf2onnx's Resize nodes trigger a harmless deprecation warning
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        # Spinning threads keep the cores busy after each run and slow whatever runs next.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.asarray(batch, np.float32)})[0]


class OnnxRuntimeCPU:
    name = "ort-cpu"
    device = "cpu"
    formats = ("onnx",)

    def is_available(self) -> tuple[bool, str]:
        return module_available("onnxruntime", "onnxruntime")

    def load(self, path: Path, threads: int | None = None) -> OnnxSession:
        return OnnxSession(path, threads)
