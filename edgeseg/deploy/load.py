"""Opening whatever the user points at on the device: a model file or a bundle."""
from __future__ import annotations

from pathlib import Path

from .bundle import open_bundle
from .segmenter import Segmenter


def load_segmenter(model: Path, threads: int | None = None, normalize_mode: str | None = None) -> Segmenter:
    """A model file, or a bundle made by `edgeseg bundle` (its sha256 is checked first)."""
    model = Path(model)
    if model.suffix.lower() == ".zip":
        return open_bundle(model, threads)
    return Segmenter(model, threads=threads, normalize_mode=normalize_mode)
