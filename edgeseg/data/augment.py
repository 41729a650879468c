"""Training-only augmentation on [0, 1] float images and their label maps."""
from __future__ import annotations

import numpy as np

from .preprocess import resize_image, resize_mask


def augment(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    h, w = labels.shape
    if rng.random() < 0.5:
        image, labels = image[:, ::-1], labels[:, ::-1]
    if rng.random() < 0.5:
        image, labels = image[::-1], labels[::-1]
    turns = int(rng.integers(0, 4)) if h == w else 2 * int(rng.integers(0, 2))
    image, labels = np.rot90(image, turns), np.rot90(labels, turns)
    if rng.random() < 0.5:
        scale = rng.uniform(0.75, 1.0)
        ch, cw = max(1, int(h * scale)), max(1, int(w * scale))
        top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        image = resize_image(np.ascontiguousarray(image[top:top + ch, left:left + cw]), h, w)
        labels = resize_mask(np.ascontiguousarray(labels[top:top + ch, left:left + cw]), h, w)
    contrast, brightness = rng.uniform(0.8, 1.2), rng.uniform(-0.1, 0.1)
    mean = image.mean()
    image = np.clip((image - mean) * contrast + mean + brightness, 0.0, 1.0)
    return np.ascontiguousarray(image, dtype=np.float32), np.ascontiguousarray(labels)
