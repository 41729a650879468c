"""COCO JSON instance annotations -> an edgeseg instance dataset (images/ + 16-bit masks/).

Polygons are drawn with PIL; RLE segmentations (compressed or not) are decoded by edgeseg's own
RLE reader, so pycocotools is not needed. Regions marked iscrowd are ignored: they are groups,
not objects. Where annotations overlap, the later one covers the earlier.
"""
from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageDraw

from .rle import rle_decode
from ..errors import DataError, UsageError
from ..outputs import atomic_output_dir

MAX_IDS = 65535  # a 16-bit mask


def _load(annotation_file: Path) -> dict:
    try:
        coco = json.loads(Path(annotation_file).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read COCO annotations {annotation_file}: {exc}") from None
    if not isinstance(coco, dict) or not isinstance(coco.get("images"), list):
        raise DataError(f"{annotation_file} is not COCO instance annotations (no 'images' list)")
    return coco


def _draw(labels: Image.Image, segmentation, object_id: int, height: int, width: int) -> None:
    if isinstance(segmentation, list):  # polygons: [[x1, y1, x2, y2, ...], ...]
        draw = ImageDraw.Draw(labels)
        for polygon in segmentation:
            if len(polygon) >= 6:
                draw.polygon([(float(x), float(y)) for x, y in zip(polygon[::2], polygon[1::2])], fill=object_id)
        return
    mask = rle_decode(segmentation)
    if mask.shape != (height, width):
        raise DataError(f"an RLE mask is {mask.shape[1]}x{mask.shape[0]}, its image {width}x{height}")
    pixels = np.asarray(labels, np.int32).copy()
    pixels[mask] = object_id
    labels.paste(Image.fromarray(pixels))


def coco_label_maps(annotation_file: Path) -> Iterator[tuple[str, np.ndarray]]:
    """(image file name, uint16 instance-label map) per image, ids 1..N in annotation order."""
    coco = _load(annotation_file)
    by_image = defaultdict(list)
    for ann in coco.get("annotations", []):
        if not ann.get("iscrowd", 0):
            by_image[ann["image_id"]].append(ann)
    for image in coco["images"]:
        height, width = int(image["height"]), int(image["width"])
        anns = by_image.get(image["id"], [])
        if len(anns) > MAX_IDS:
            raise DataError(f"{image['file_name']} has {len(anns)} objects; a 16-bit mask holds {MAX_IDS}")
        labels = Image.new("I", (width, height), 0)
        for object_id, ann in enumerate(anns, start=1):
            _draw(labels, ann["segmentation"], object_id, height, width)
        yield image["file_name"], np.asarray(labels).astype(np.uint16)


def _refuse_overlap(out: Path, inputs: list[Path]) -> None:
    """An output that is, holds or sits inside an input is refused, even with --force."""
    out = out.resolve()
    for path in inputs:
        path = path.resolve()
        if out == path or out in path.parents or path in out.parents:
            raise UsageError(f"output {out} overlaps the input {path}; choose another --out")


def import_coco(annotation_file: Path, images_dir: Path, out: Path, force: bool = False) -> int:
    """Writes OUT/images/<name> (copied) and OUT/masks/<stem>.png (16-bit ids), atomically.
    Returns the number of images written."""
    annotation_file, images_dir, out = Path(annotation_file), Path(images_dir), Path(out)
    _refuse_overlap(out, [annotation_file, images_dir])
    written = 0
    with atomic_output_dir(out, force) as tmp:
        (tmp / "images").mkdir()
        (tmp / "masks").mkdir()
        for file_name, labels in coco_label_maps(annotation_file):
            source = images_dir / file_name
            if not source.is_file():
                raise DataError(f"image listed in {annotation_file.name} not found: {source}")
            shutil.copyfile(source, tmp / "images" / Path(file_name).name)
            Image.fromarray(labels).save(tmp / "masks" / f"{Path(file_name).stem}.png")
            written += 1
    return written
