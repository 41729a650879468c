"""Raw pixels -> model input, identical for training, evaluation and the device."""
from __future__ import annotations

import numpy as np
from PIL import Image

from ..config import PreprocessSpec
from ..errors import DataError


# Float pixels are read as 0..1; a little outside (resampling, rounding) is clipped, more is refused.
FLOAT_SLACK = 0.01


def to_unit_float(pixels: np.ndarray, source: str = "a float image") -> np.ndarray:
    """Integer pixels of any bit depth -> float32 in [0, 1] (HxWxC). Float pixels must already be
    0..1: a float32 TIFF of raw counts (0..4095, say) would otherwise saturate to 1.0 almost
    everywhere and train on a white image, silently. Scaling by each image's own maximum would
    make the device's preprocessing depend on the image, so such files are refused instead."""
    arr = np.asarray(pixels)
    if arr.ndim == 2:
        arr = arr[..., None]
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)
    if arr.dtype == bool:
        return arr.astype(np.float32)
    arr = arr.astype(np.float32)
    if arr.size and not np.isfinite(arr).all():
        raise DataError(f"{source} has NaN or infinite pixel values")
    if arr.size and (arr.max() > 1.0 + FLOAT_SLACK or arr.min() < -FLOAT_SLACK):
        raise DataError(f"{source} is a float image with values {arr.min():g}..{arr.max():g}; edgeseg reads "
                        "float pixels as 0..1: rescale it to 0..1, or save it as 8/16-bit integers")
    return np.clip(arr, 0.0, 1.0)


def match_channels(image: np.ndarray, channels: int) -> np.ndarray:
    if image.shape[-1] in (2, 4):  # grayscale+alpha or RGBA: the alpha plane is not image content
        image = image[..., :image.shape[-1] - 1]
    have = image.shape[-1]
    if have == channels:
        return image
    if channels == 1:
        rgb = image[..., :3]
        return (rgb @ np.array([0.299, 0.587, 0.114], np.float32))[..., None] if rgb.shape[-1] == 3 else rgb[..., :1]
    return np.repeat(image[..., :1], channels, axis=-1)


def resize_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a float HxWxC image (float mode keeps 16-bit precision)."""
    if image.shape[:2] == (height, width):
        return image
    planes = [
        np.asarray(Image.fromarray(image[..., c]).resize((width, height), Image.BILINEAR))
        for c in range(image.shape[-1])
    ]
    return np.stack(planes, axis=-1).astype(np.float32)


def resize_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize, so no new label values are invented."""
    if mask.shape[:2] == (height, width):
        return mask
    return np.asarray(Image.fromarray(mask.astype(np.int32)).resize((width, height), Image.NEAREST))


def normalize(unit: np.ndarray, mode: str) -> np.ndarray:
    if mode == "0-1":
        return unit
    if mode == "-1-1":
        return unit * 2.0 - 1.0
    return unit * 255.0  # "none": raw 8-bit scale, for models that normalize internally


def prepare_image(pixels: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """Raw pixels of any size -> normalized float32 HxWxC at the model's input size."""
    unit = match_channels(to_unit_float(pixels), spec.channels)
    return normalize(resize_image(unit, spec.height, spec.width), spec.normalize)


def mask_to_labels(mask: np.ndarray, classes: int) -> np.ndarray:
    """Binary masks: any non-zero is foreground. Several classes: the value is the class index."""
    arr = np.asarray(mask)
    if arr.ndim == 3:
        arr = arr.max(axis=-1)
    if classes == 1:
        return (arr != 0).astype(np.int32)
    return arr.astype(np.int32)
