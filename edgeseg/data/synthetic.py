"""Seeded synthetic microscopy: cell-like blobs with noise, blur and uneven illumination.

Each sample is generated from (seed, index) alone, so any sample can be made on demand
and a dataset of any length costs no memory.
"""
from __future__ import annotations

import numpy as np


def _gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    radius = max(1, int(round(3 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float32)
    kernel = np.exp(-(x**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    padded = np.pad(image, radius, mode="reflect")
    h, w = image.shape
    rows = sum(k * padded[:, j:j + w] for j, k in enumerate(kernel))
    return sum(k * rows[j:j + h] for j, k in enumerate(kernel))

def synth_sample(height: int, width: int, index: int, seed: int = 0, channels: int = 1,
                 classes: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Returns (uint8 image HxWxC, int32 label map HxW)."""
    rng = np.random.default_rng([seed, index])
    size = min(height, width)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    labels = np.zeros((height, width), np.int32)
    signal = np.zeros((height, width), np.float32)
    area_scale = height * width / (64 * 64)
    for _ in range(int(rng.integers(2, 7) * max(1.0, area_scale) ** 0.5) + 1):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        ry, rx = rng.uniform(0.05, 0.14, size=2) * size
        theta = rng.uniform(0, np.pi)
        dy, dx = yy - cy, xx - cx
        u = (dx * np.cos(theta) + dy * np.sin(theta)) / rx
        v = (-dx * np.sin(theta) + dy * np.cos(theta)) / ry
        inside = u**2 + v**2 <= 1.0
        cls = int(rng.integers(1, classes)) if classes > 1 else 1
        labels[inside] = cls
        brightness = rng.uniform(0.45, 0.8) * (1.0 if classes == 1 else 0.6 + 0.4 * cls / (classes - 1))
        signal[inside] = brightness
    background = rng.uniform(0.05, 0.2)
    image = np.where(labels > 0, signal, background).astype(np.float32)
    gy, gx = rng.uniform(-0.35, 0.35, size=2)
    illumination = 1.0 + gy * (yy / height - 0.5) + gx * (xx / width - 0.5)
    image = _gaussian_blur(image * illumination, sigma=rng.uniform(0.6, 1.4) * size / 64)
    image = image + rng.normal(0, rng.uniform(0.02, 0.06), image.shape)
    image = np.clip(image, 0, 1)
    if channels == 3:
        tint = rng.uniform(0.7, 1.0, size=3).astype(np.float32)
        image = image[..., None] * tint
    else:
        image = image[..., None]
    return (image * 255).round().astype(np.uint8), labels
