"""The runtime interface: one module per runtime, each small.

A runtime loads an artifact into a Session whose run() takes a normalized float batch and
returns float probabilities; any (de)quantization of integer I/O happens inside the session.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Protocol

import numpy as np

FORMATS = {".tflite": "tflite", ".onnx": "onnx", ".keras": "keras", ".h5": "keras"}


class Session(Protocol):
    def run(self, batch: np.ndarray) -> np.ndarray: ...


class Runtime(Protocol):
    name: str
    device: str
    formats: tuple[str, ...]

    def is_available(self) -> tuple[bool, str]: ...

    def load(self, path: Path, threads: int | None = None) -> Session: ...


def artifact_format(path: Path) -> str | None:
    return FORMATS.get(Path(path).suffix.lower())


def module_available(module: str, package: str) -> tuple[bool, str]:
    """Never raises: (True, version) or (False, the reason shown to users)."""
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # an installed-but-broken package fails in many ways
        return False, f"{package} is not importable: {type(exc).__name__}: {exc}".splitlines()[0]
    return True, f"{package} {getattr(mod, '__version__', '')}".strip()
