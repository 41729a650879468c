"""Images without masks (--unlabeled DIR): used only through the teacher during distillation."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from ..config import PreprocessSpec
from ..errors import DataError
from .augment import augment
from .dataset import IMAGE_SUFFIXES, read_pixels
from .preprocess import match_channels, normalize, resize_image, to_unit_float


def scan_unlabeled(root: Path) -> list[Path]:
    """The image files directly in `root` (or in root/images); a clear DataError when none."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"--unlabeled directory not found: {root}")
    folder = root / "images" if (root / "images").is_dir() else root
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise DataError(f"no images (PNG, JPEG, TIFF) in {folder}")
    return paths


def load_unlabeled(path: Path, spec: PreprocessSpec) -> np.ndarray:
    """A [0, 1] float image at the model's size and channels."""
    return resize_image(match_channels(to_unit_float(read_pixels(path)), spec.channels), spec.height, spec.width)


def unlabeled_batches(root: Path, spec: PreprocessSpec, batch_size: int, seed: int,
                      paths: list[Path] | None = None) -> Iterator[np.ndarray]:
    """An endless iterator of augmented, normalized image batches, reshuffled every pass."""
    paths = paths if paths is not None else scan_unlabeled(root)
    rng = np.random.default_rng(seed)
    no_labels = np.zeros((spec.height, spec.width), np.int32)
    while True:
        order = rng.permutation(len(paths))
        for start in range(0, len(order), batch_size):
            chosen = order[start:start + batch_size]
            images = [augment(load_unlabeled(paths[i], spec), no_labels, rng)[0] for i in chosen]
            yield np.stack([normalize(image, spec.normalize) for image in images]).astype(np.float32)
