"""Opening images that may be hostile or lossy: a pixel limit checked from the header before
any decoding (a decompression bomb is a small file that decodes to gigabytes), and a warning
for JPEG masks, whose compression shifts edges and label values."""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

from PIL import Image

from ..errors import DataError

MAX_IMAGE_PIXELS = 64 * 2**20  # 67 megapixels, e.g. 8192x8192: far beyond any segmentation input
LOSSY_MASK_SUFFIXES = {".jpg", ".jpeg"}


def open_image(path: Path) -> Image.Image:
    """PIL's Image.open, refusing images over MAX_IMAGE_PIXELS with one line naming the limit."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(f"{path}: the image is larger than PIL's decompression-bomb limit; edgeseg reads images "
                        f"up to {MAX_IMAGE_PIXELS:,} pixels") from None
    width, height = img.size
    if width * height > MAX_IMAGE_PIXELS:
        img.close()
        raise DataError(f"{path}: {width}x{height} = {width * height:,} pixels is over the limit of "
                        f"{MAX_IMAGE_PIXELS:,} (edgeseg.data.image_safety.MAX_IMAGE_PIXELS)")
    return img


def warn_lossy_masks(masks: list[Path], root: Path) -> None:
    lossy = [m for m in masks if m is not None and m.suffix.lower() in LOSSY_MASK_SUFFIXES]
    if lossy:
        print(f"edgeseg: warning: {len(lossy)} mask(s) in {root} are JPEG (e.g. {lossy[0].name}); lossy compression "
              "turns background pixels near edges into small non-zero values, which count as foreground: save masks as PNG",
              file=sys.stderr)
