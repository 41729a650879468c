"""Runtimes by name. Each module imports its heavy library only when a model is loaded."""
from __future__ import annotations

from pathlib import Path

from .base import Runtime, artifact_format
from .keras_tf import KerasCPU
from .litert import LiteRTCPU
from .onnxrt import OnnxRuntimeCPU

REGISTRY: dict[str, Runtime] = {r.name: r for r in (KerasCPU(), LiteRTCPU(), OnnxRuntimeCPU())}


def reference_runtime(path: Path) -> Runtime:
    """The runtime that verifies an artifact: the one a device would run it with."""
    fmt = artifact_format(path)
    for runtime in REGISTRY.values():
        if fmt in runtime.formats:
            return runtime
    raise ValueError(f"no runtime for {path}")


__all__ = ["REGISTRY", "Runtime", "artifact_format", "reference_runtime"]
