"""Datasets: a directory of images and masks, or the built-in synthetic generator.

A dataset holds file paths (or generator indices), never decoded pixels, so memory stays
bounded however large the directory is. Samples are decoded one batch at a time.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..config import DataConfig, PreprocessSpec
from ..errors import DataError
from .augment import augment as augment_sample
from .preprocess import mask_to_labels, match_channels, normalize, resize_image, resize_mask, to_unit_float
from .image_safety import open_image, warn_lossy_masks
from .synthetic import synth_sample

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}


def read_pixels(path: Path) -> np.ndarray:
    try:
        with open_image(path) as img:
            if img.mode in ("I;16", "I;16B", "I;16L"):
                return np.asarray(img).astype(np.uint16)
            if img.mode not in ("L", "RGB", "RGBA", "P", "I", "1", "F"):
                img = img.convert("RGB")
            return np.asarray(img)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from None


@dataclass(frozen=True)
class Sample:
    image: Path | None
    mask: Path | None
    index: int = 0


class SegmentationData:
    """An indexable list of samples, decoded on demand at the spec's size."""

    def __init__(self, samples: list[Sample], spec: PreprocessSpec, synthetic_seed: int | None = None):
        self.samples = samples
        self.spec = spec
        self.synthetic_seed = synthetic_seed

    def __len__(self) -> int:
        return len(self.samples)

    def unit_sample(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(float image in [0, 1] at model size, int label map at model size)."""
        s, spec = self.samples[i], self.spec
        if self.synthetic_seed is not None:
            pixels, labels = synth_sample(spec.height, spec.width, s.index, self.synthetic_seed,
                                          spec.channels, spec.classes)
        else:
            pixels, raw_mask = read_pixels(s.image), read_pixels(s.mask)
            if pixels.shape[:2] != raw_mask.shape[:2]:
                raise DataError(f"{s.image.name} is {pixels.shape[1]}x{pixels.shape[0]} but its mask is "
                                f"{raw_mask.shape[1]}x{raw_mask.shape[0]}")
            labels = mask_to_labels(raw_mask, spec.classes)
            if labels.max(initial=0) >= spec.labels:
                raise DataError(f"mask {s.mask} has label {labels.max()} but the model has {spec.classes} classes")
        image = resize_image(match_channels(to_unit_float(pixels, str(s.image)), spec.channels),
                             spec.height, spec.width)
        return image, resize_mask(labels, spec.height, spec.width)

    def sample(self, i: int, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        image, labels = self.unit_sample(i)
        if rng is not None:
            image, labels = augment_sample(image, labels, rng)
        return normalize(image, self.spec.normalize), labels

    def batch(self, indices, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        pairs = [self.sample(int(i), rng) for i in indices]
        return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])

    def batches(self, batch_size: int, limit: int | None = None):
        """Yields (images, label maps) in order; used by evaluation and calibration."""
        n = len(self) if limit is None else min(limit, len(self))
        for start in range(0, n, batch_size):
            yield self.batch(range(start, min(n, start + batch_size)))

    def foreground_flags(self) -> np.ndarray:
        return np.array([bool(self.unit_sample(i)[1].any()) for i in range(len(self))])


def _scan_pairs(root: Path) -> list[Sample]:
    images_dir, masks_dir = root / "images", root / "masks"
    for d in (images_dir, masks_dir):
        if not d.is_dir():
            raise DataError(f"{root} has no {d.name}/ directory (expected {root}/images and {root}/masks)")
    images = {p.stem: p for p in sorted(images_dir.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    masks = {p.stem: p for p in sorted(masks_dir.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    if not images:
        raise DataError(f"no images (PNG, JPEG, TIFF) in {images_dir}")
    orphans = sorted(set(masks) - set(images))
    if orphans:
        raise DataError(f"mask without an image in {root}: {masks[orphans[0]].name}"
                        + (f" (and {len(orphans) - 1} more)" if len(orphans) > 1 else ""))
    missing = sorted(set(images) - set(masks))
    if missing:
        raise DataError(f"image without a mask in {root}: {images[missing[0]].name}"
                        + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    samples = [Sample(images[k], masks[k]) for k in sorted(images)]
    for s in samples:  # header-only check: catches unreadable files before a long run starts
        for path in (s.image, s.mask):
            try:
                with open_image(path):
                    pass
            except (OSError, UnidentifiedImageError) as exc:
                raise DataError(f"cannot read image {path}: {exc}") from None
    warn_lossy_masks([s.mask for s in samples], root)
    return samples


def load_splits(config: DataConfig, spec: PreprocessSpec) -> tuple[SegmentationData, SegmentationData]:
    """(train, val). Uses DIR/train and DIR/val when present, else a seeded split."""
    if config.is_synthetic:
        train = [Sample(None, None, i) for i in range(config.synthetic_train)]
        val = [Sample(None, None, 10_000_000 + i) for i in range(config.synthetic_val)]
        return (SegmentationData(train, spec, config.seed), SegmentationData(val, spec, config.seed))
    root = Path(config.source)
    if not root.is_dir():
        raise DataError(f"data directory not found: {root}")
    if (root / "train").is_dir() and (root / "val").is_dir():
        return (SegmentationData(_scan_pairs(root / "train"), spec),
                SegmentationData(_scan_pairs(root / "val"), spec))
    samples = _scan_pairs(root)
    if len(samples) < 2:
        raise DataError(f"{root} holds {len(samples)} image; a train/val split needs at least 2")
    order = np.random.default_rng(config.seed).permutation(len(samples))
    n_val = max(1, int(round(len(samples) * config.val_fraction)))
    val = [samples[i] for i in sorted(order[:n_val])]
    train = [samples[i] for i in sorted(order[n_val:])]
    return SegmentationData(train, spec), SegmentationData(val, spec)


def write_dataset(data: SegmentationData, out_dir: Path, mask_of=None) -> int:
    """Writes DIR/images/*.png and DIR/masks/*.png; masks are 0/255 or class indices unless
    `mask_of(labels)` says how to store them (16-bit instance ids, for instance)."""
    mask_of = mask_of or (lambda labels: (labels * 255 if data.spec.classes == 1 else labels).astype(np.uint8))
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "masks").mkdir(parents=True, exist_ok=True)
    for i in range(len(data)):
        unit, labels = data.unit_sample(i)
        pixels = (unit * 255).round().astype(np.uint8)
        pixels = pixels[..., 0] if pixels.shape[-1] == 1 else pixels
        Image.fromarray(pixels).save(out_dir / "images" / f"{i:05d}.png")
        Image.fromarray(mask_of(labels)).save(out_dir / "masks" / f"{i:05d}.png")
    return len(data)


def calibration_images(train: SegmentationData, count: int, batch_size: int) -> np.ndarray:
    """The first `count` training images (after the split), the set every int8 calibration uses."""
    return np.concatenate([images for images, _ in train.batches(batch_size, limit=count)])
