"""Runtimes by name. Each module imports its heavy library only when asked whether it is
available or to load a model."""
from __future__ import annotations

from pathlib import Path

from ..artifacts.describe import artifact_format
from .base import Runtime, RuntimeUnavailable
from .edgetpu import LiteRTEdgeTPU
from .keras_tf import KerasCPU, TensorFlowGPU
from .litert import LiteRTCPU
from .onnxrt import OnnxRuntimeCPU, OnnxRuntimeCUDA, OnnxRuntimeTensorRT

# Order is the order of rows in reports: CPU first, then accelerators.
REGISTRY: dict[str, Runtime] = {r.name: r for r in (
    KerasCPU(), LiteRTCPU(), OnnxRuntimeCPU(),
    TensorFlowGPU(), OnnxRuntimeCUDA(), OnnxRuntimeTensorRT(),
    LiteRTEdgeTPU(),
)}


def reference_runtime(path: Path) -> Runtime:
    """The runtime that verifies an artifact: the one a device would run it with."""
    fmt = artifact_format(path)
    for runtime in REGISTRY.values():
        if fmt in runtime.formats:
            return runtime
    raise ValueError(f"no runtime for {path}")


__all__ = ["REGISTRY", "Runtime", "RuntimeUnavailable", "artifact_format", "reference_runtime"]
