"""Seeded synthetic instances: clusters of touching and overlapping cell-like ellipses, each with
its own id, a darker rim (a membrane, the cue that separates touching cells) and noise.

Like synthetic.py, a sample is made from (seed, index) alone, at any size, on demand.
"""
from __future__ import annotations

import numpy as np

from .instance_targets import relabel_sequential
from .synthetic import _gaussian_blur

MIN_VISIBLE = 0.3  # an object partly hidden by later ones keeps at least this share of its area


def _ellipse(yy, xx, cy, cx, ry, rx, theta) -> np.ndarray:
    dy, dx = yy - cy, xx - cx
    u = (dx * np.cos(theta) + dy * np.sin(theta)) / rx
    v = (-dx * np.sin(theta) + dy * np.cos(theta)) / ry
    return u**2 + v**2 <= 1.0


def _place_objects(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Clusters of 2-4 ellipses whose centres sit about one radius apart, so they touch or
    overlap; later objects cover earlier ones, and mostly hidden ones are dropped."""
    size = min(height, width)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    labels = np.zeros((height, width), np.int32)
    next_id = 1
    area_scale = max(1.0, height * width / (64 * 64)) ** 0.5
    for _ in range(int(rng.integers(1, 4) * area_scale) + 1):
        cy, cx = rng.uniform(0.1, 0.9) * height, rng.uniform(0.1, 0.9) * width
        for _ in range(int(rng.integers(2, 5))):
            ry, rx = rng.uniform(0.07, 0.14, size=2) * size
            inside = _ellipse(yy, xx, cy, cx, ry, rx, rng.uniform(0, np.pi))
            before = labels.copy()
            labels[inside] = next_id
            covered = np.bincount(before[inside], minlength=next_id)  # pixels each older object lost
            totals = np.bincount(before.ravel(), minlength=next_id)
            left = totals - covered
            if np.any((totals > 0) & (left < MIN_VISIBLE * totals)):
                labels = before  # would hide an older object: skip this one
            else:
                next_id += 1
            angle, step = rng.uniform(0, 2 * np.pi), rng.uniform(1.2, 1.8) * max(ry, rx)
            cy = float(np.clip(cy + step * np.sin(angle), 0, height - 1))
            cx = float(np.clip(cx + step * np.cos(angle), 0, width - 1))
    return relabel_sequential(labels)


def synth_instance_sample(height: int, width: int, index: int, seed: int = 0,
                          channels: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Returns (uint8 image H x W x C, int32 instance-label map H x W, ids 1..N)."""
    from .instance_targets import boundaries

    rng = np.random.default_rng([seed, index, 16])
    labels = _place_objects(height, width, rng)
    brightness = rng.uniform(0.5, 0.85, size=int(labels.max()) + 1)
    brightness[0] = rng.uniform(0.05, 0.2)
    image = brightness[labels].astype(np.float32)
    image[boundaries(labels)] *= 0.55  # membranes: darker where an object meets another or background
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    gy, gx = rng.uniform(-0.3, 0.3, size=2)
    image *= 1.0 + gy * (yy / height - 0.5) + gx * (xx / width - 0.5)
    image = _gaussian_blur(image, sigma=rng.uniform(0.4, 0.8) * min(height, width) / 64)
    image = np.clip(image + rng.normal(0, rng.uniform(0.02, 0.05), image.shape), 0, 1)
    image = image[..., None] * (rng.uniform(0.7, 1.0, size=3).astype(np.float32) if channels == 3 else 1.0)
    return (image * 255).round().astype(np.uint8), labels
