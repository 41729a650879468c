"""LiteRT (ai-edge-litert) on the CPU with XNNPACK: the interpreter devices run."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..artifacts.describe import TensorDesc
from .base import module_available


def quantize_input(batch: np.ndarray, detail: dict) -> np.ndarray:
    dtype = detail["dtype"]
    if not np.issubdtype(dtype, np.integer):
        return batch.astype(dtype, copy=False)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    # In place on one float buffer: this runs on every frame, inside the latency budget.
    q = np.multiply(batch, np.float32(1.0 / scale), dtype=np.float32)
    q += np.float32(zero_point)
    np.rint(q, out=q)
    np.clip(q, info.min, info.max, out=q)
    return q.astype(dtype)


def dequantize_output(values: np.ndarray, detail: dict) -> np.ndarray:
    if not np.issubdtype(values.dtype, np.integer):
        return values.astype(np.float32, copy=False)
    scale, zero_point = detail["quantization"]
    out = values.astype(np.float32)
    out -= np.float32(zero_point)
    out *= np.float32(scale)
    return out


def _desc(detail: dict) -> TensorDesc:
    scale, zero_point = detail["quantization"]
    return TensorDesc(detail["name"], tuple(int(v) for v in detail["shape"]), np.dtype(detail["dtype"]).name,
                      float(scale) if scale else None, int(zero_point) if scale else None)


class LiteRTSession:
    """threads None means every core: LiteRT's own default is one thread. Without delegates
    (the CPU) the interpreter runs cpu_model(path); with them (the Edge TPU) the file as is."""

    def __init__(self, path: Path, threads: int | None = None, delegates: list | None = None):
        from ai_edge_litert.interpreter import Interpreter

        from ..quiet import quiet_native_stderr

        self.threads = threads or os.cpu_count() or 1
        from .litert_upsample import cpu_model

        content, self.upsamplings_rewritten = (None, 0) if delegates else cpu_model(path)
        source = {"model_content": content} if self.upsamplings_rewritten else {"model_path": str(path)}
        with quiet_native_stderr():  # 'INFO: Created TensorFlow Lite XNNPACK delegate' unless --verbose
            self.interpreter = Interpreter(**source, num_threads=self.threads, experimental_delegates=delegates)
            self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

    def run(self, batch: np.ndarray) -> np.ndarray:
        outputs = []
        for image in np.asarray(batch, np.float32):  # models are exported at batch 1
            self.interpreter.set_tensor(self.input["index"], quantize_input(image[None], self.input))
            self.interpreter.invoke()
            outputs.append(dequantize_output(self.interpreter.get_tensor(self.output["index"]), self.output))
        return outputs[0] if len(outputs) == 1 else np.concatenate(outputs)

    @property
    def io(self) -> tuple[TensorDesc, TensorDesc]:
        """The input and output as the model declares them (dtype, shape, quantization)."""
        return _desc(self.input), _desc(self.output)


class LiteRTCPU:
    name = "litert-cpu"
    device = "cpu"
    formats = ("tflite",)

    def is_available(self) -> tuple[bool, str]:
        return module_available("ai_edge_litert.interpreter", "ai-edge-litert")

    def load(self, path: Path, threads: int | None = None) -> LiteRTSession:
        return LiteRTSession(path, threads)

    def profile(self, path: Path, threads: int | None, batch: np.ndarray, warmup: int = 3, runs: int = 20) -> dict:
        """Per-op time, each op run alone (runtimes/litert_profile.py: no op profiler in the
        Python API). `batch` is unused: isolated ops take random inputs of their own types."""
        from .litert_profile import profile_ops

        return profile_ops(path, threads or os.cpu_count() or 1, warmup, runs)
