"""The runtime interface: one module per runtime, each small.

A runtime loads an artifact into a Session whose run() takes a normalized float batch and
returns float probabilities; any (de)quantization of integer I/O happens inside the session.
Importing a runtime module never imports its library: that happens in is_available() (only
where a cheap import tells the truth) or in load().
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path
from typing import Protocol

import numpy as np

from ..artifacts.describe import TensorDesc
from ..errors import describe



class RuntimeUnavailable(RuntimeError):
    """Raised by load() when a runtime that looked present cannot run this artifact here
    (for example onnxruntime falling back from CUDA to the CPU)."""


class Session(Protocol):
    def run(self, batch: np.ndarray) -> np.ndarray: ...

    @property
    def io(self) -> tuple[TensorDesc, TensorDesc]: ...  # the model's input and output, as declared


class Runtime(Protocol):
    name: str
    device: str  # "cpu" | "gpu" | "tpu"
    formats: tuple[str, ...]

    def is_available(self) -> tuple[bool, str]: ...

    def load(self, path: Path, threads: int | None = None) -> Session: ...


def package_version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def module_present(module: str, package: str) -> tuple[bool, str]:
    """Never raises and never imports: (True, 'package version') or (False, the reason)."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package that is missing or broken
        found = False
    if not found:
        return False, f"{package} is not installed (module {module} not found)"
    return True, f"{package} {package_version(package) or ''}".strip()


def module_available(module: str, package: str) -> tuple[bool, str]:
    """Never raises: imports the module, (True, version) or (False, the reason shown to users)."""
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # an installed-but-broken package fails in many ways
        return False, f"{package} is not importable: {describe(exc)}"
    return True, f"{package} {getattr(mod, '__version__', '') or package_version(package) or ''}".strip()
