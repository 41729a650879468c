"""onnxruntime with one execution provider each: CPU, CUDA and TensorRT (onnxruntime-gpu)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..artifacts.describe import TensorDesc
from .base import RuntimeUnavailable, module_available

_ORT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int8)": "int8",
              "tensor(uint8)": "uint8"}


class OnnxSession:
    def __init__(self, path: Path, threads: int | None = None, provider: str = "CPUExecutionProvider",
                 configure=None):
        import onnxruntime as ort

        ort.set_default_logger_severity(3)  # tf2onnx's Resize nodes trigger a harmless deprecation warning
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        # Spinning threads keep the cores busy after each run and slow whatever runs next.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if configure is not None:  # the profiler switches itself on here
            configure(options)
        providers = [provider] if provider == "CPUExecutionProvider" else [provider, "CPUExecutionProvider"]
        if provider != "CPUExecutionProvider" and hasattr(ort, "preload_dlls"):
            # CUDA and cuDNN installed from pip (nvidia-* wheels) are not on the loader's path;
            # this is onnxruntime's own way to find them.
            ort.preload_dlls()
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        active = self.session.get_providers()
        # onnxruntime quietly falls back to the CPU when a GPU provider fails to initialize;
        # a row labelled CUDA must not report CPU figures.
        if not active or active[0] != provider:
            raise RuntimeUnavailable(f"onnxruntime could not start {provider} here (it fell back to "
                                     f"{', '.join(active) or 'nothing'}); check the CUDA/TensorRT libraries")
        self.input_name = self.session.get_inputs()[0].name
        self.threads = threads or None  # None: onnxruntime's default (every physical core)

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.asarray(batch, np.float32)})[0]

    @property
    def io(self) -> tuple[TensorDesc, TensorDesc]:
        """The input and output as the model declares them (None where a size is dynamic)."""
        def desc(arg) -> TensorDesc:
            dtype = _ORT_TYPES.get(arg.type, arg.type)
            return TensorDesc(arg.name, tuple(d if isinstance(d, int) else None for d in arg.shape), dtype)

        return desc(self.session.get_inputs()[0]), desc(self.session.get_outputs()[0])


class OnnxRuntime:
    formats = ("onnx",)

    def __init__(self, name: str, provider: str, device: str):
        self.name, self.provider, self.device = name, provider, device

    def is_available(self) -> tuple[bool, str]:
        ok, version = module_available("onnxruntime", "onnxruntime")
        if not ok:
            return ok, version
        import onnxruntime as ort

        if self.provider not in ort.get_available_providers():
            extra = "" if self.provider == "CPUExecutionProvider" else " (install onnxruntime-gpu: pip install 'edgeseg[gpu]')"
            return False, f"{version} has no {self.provider}{extra}"
        return True, version

    def load(self, path: Path, threads: int | None = None) -> OnnxSession:
        return OnnxSession(path, threads, self.provider)

    def profile(self, path: Path, threads: int | None, batch: np.ndarray, warmup: int = 3, runs: int = 20) -> dict:
        """Per-node time from onnxruntime's profiler (runtimes/onnxrt_profile.py)."""
        from .onnxrt_profile import profile_nodes

        return profile_nodes(lambda configure: OnnxSession(path, threads, self.provider, configure), batch,
                             threads, warmup, runs)


def OnnxRuntimeCPU() -> OnnxRuntime:  # noqa: N802 - kept as the name compress and the tests know
    return OnnxRuntime("ort-cpu", "CPUExecutionProvider", "cpu")


def OnnxRuntimeCUDA() -> OnnxRuntime:  # noqa: N802
    return OnnxRuntime("ort-cuda", "CUDAExecutionProvider", "gpu")


def OnnxRuntimeTensorRT() -> OnnxRuntime:  # noqa: N802
    return OnnxRuntime("ort-tensorrt", "TensorrtExecutionProvider", "gpu")
