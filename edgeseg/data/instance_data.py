"""Instance datasets: images/ and masks/ as for semantic data, with masks as instance-label
images (16-bit PNG or TIFF, 0 = background, one id per object), or synthetic instances.

Samples are augmented as label maps (geometric steps resample labels nearest-neighbour, see
augment.py), and only then turned into targets, so distances match the augmented objects.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from scipy import ndimage

from ..config import DataConfig, PreprocessSpec
from ..errors import DataError
from .dataset import SegmentationData, load_splits, read_pixels, write_dataset
from .instance_targets import instance_targets
from .preprocess import match_channels, resize_image, resize_mask, to_unit_float
from .synthetic_instances import synth_instance_sample

EIGHT_BIT_IDS = 255


class LooksSemanticWarning(UserWarning):
    """A mask given as instances holds one foreground value: every object shares an id."""


def instance_labels(raw: np.ndarray, name: str) -> np.ndarray:
    """A decoded mask file -> int32 instance ids, checked. A two-valued mask whose foreground is
    several separate regions looks semantic: it warns and its regions are numbered. 8-bit masks
    that use every id are refused (ids ran out)."""
    arr = np.asarray(raw)
    if arr.ndim == 3:
        if not all(np.array_equal(arr[..., 0], arr[..., c]) for c in range(1, arr.shape[-1])):
            raise DataError(f"{name}: a colour mask; instance masks hold one id per pixel "
                            "(save them as 16-bit single-channel PNG or TIFF)")
        arr = arr[..., 0]
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.mod(arr, 1) == 0) or arr.min(initial=0) < 0:
            raise DataError(f"{name}: instance ids must be non-negative whole numbers")
    ids = np.unique(arr)
    ids = ids[ids != 0]
    if arr.dtype == np.uint8 and ids.size >= EIGHT_BIT_IDS:
        raise DataError(f"{name}: an 8-bit mask using all {EIGHT_BIT_IDS} ids; ids have run out (objects would "
                        "share ids): save instance masks as 16-bit PNG or TIFF")
    if ids.size == 1:
        regions, count = ndimage.label(arr != 0)
        if count > 1:  # one object per image is fine; several regions sharing an id are not objects
            warnings.warn(f"{name} looks semantic (two values, {count} separate regions): each connected "
                          "region is taken as one object", LooksSemanticWarning, stacklevel=2)
            return regions.astype(np.int32)
    return arr.astype(np.int32)


class InstanceData(SegmentationData):
    """SegmentationData whose label maps are instance ids; target_batch gives training targets."""

    def __init__(self, samples, spec: PreprocessSpec, synthetic_seed: int | None = None, boundary: bool = False):
        super().__init__(samples, spec, synthetic_seed)
        self.boundary = boundary  # targets with a third, boundary channel

    def unit_sample(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        s, spec = self.samples[i], self.spec
        if self.synthetic_seed is not None:
            pixels, labels = synth_instance_sample(spec.height, spec.width, s.index, self.synthetic_seed,
                                                   spec.channels)
        else:
            pixels, raw_mask = read_pixels(s.image), read_pixels(s.mask)
            if pixels.shape[:2] != raw_mask.shape[:2]:
                raise DataError(f"{s.image.name} is {pixels.shape[1]}x{pixels.shape[0]} but its mask is "
                                f"{raw_mask.shape[1]}x{raw_mask.shape[0]}")
            labels = instance_labels(raw_mask, str(s.mask))
        image = resize_image(match_channels(to_unit_float(pixels, str(s.image)), spec.channels),
                             spec.height, spec.width)
        return image, resize_mask(labels, spec.height, spec.width).astype(np.int32)

    def target_batch(self, indices, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(normalized images, N x H x W x 2|3 float32 targets), augmented first when rng is given."""
        images, labels = self.batch(indices, rng)
        return images, np.stack([instance_targets(lab, self.boundary) for lab in labels])

    def sample(self, i: int, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        image, labels = super().sample(i, rng)
        return image, labels.astype(np.int32)


def load_instance_splits(config: DataConfig, spec: PreprocessSpec, boundary: bool = False
                         ) -> tuple[InstanceData, InstanceData]:
    """(train, val) as load_splits makes them, read as instances."""
    train, val = (InstanceData(s.samples, spec, s.synthetic_seed, boundary) for s in load_splits(config, spec))
    return train, val


def load_task_splits(config: DataConfig, spec: PreprocessSpec) -> tuple[SegmentationData, SegmentationData]:
    """(train, val) as the spec's task reads them: instance-id label maps for an instance model
    (a semantic reader would merge every object into one class), masks otherwise."""
    return SPLIT_READERS[spec.task](config, spec)


SPLIT_READERS = {  # task -> how its (train, val) are read
    "semantic": load_splits,
    "instance": lambda config, spec: load_instance_splits(config, spec, boundary=spec.instance_channels == 3),
}


def write_instance_dataset(data: InstanceData, out_dir: Path) -> int:
    """Writes DIR/images/*.png and DIR/masks/*.png (16-bit instance ids, 0 = background)."""
    return write_dataset(data, out_dir, mask_of=lambda labels: labels.astype(np.uint16))
