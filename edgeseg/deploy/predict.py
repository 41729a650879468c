"""`edgeseg predict`: images, folders, video files or a camera in; mask PNGs (and, with
--overlay, original | mask | overlay figures) out, at each image's own size."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from ..data.dataset import IMAGE_SUFFIXES, read_pixels
from ..data.preprocess import to_unit_float
from ..errors import UsageError
from ..outputs import atomic_output_dir
from .segmenter import Prediction, Segmenter

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}
PALETTE = np.array([[0, 0, 0], [255, 64, 64], [64, 200, 64], [64, 128, 255], [255, 200, 0], [200, 64, 255],
                    [0, 200, 200], [255, 128, 0]], np.uint8)


@dataclass(frozen=True)
class Source:
    kind: str  # "image" | "video" | "camera"
    path: Path | None
    name: str  # output stem, unique
    camera: int | None = None


def collect_sources(inputs: list[str]) -> list[Source]:
    """Every input checked before anything runs, so a typo fails fast and writes nothing."""
    found: list[tuple[str, Path | None, int | None]] = []
    for raw in inputs:
        path = Path(raw)
        if raw.isdigit() and not path.exists():
            found.append(("camera", None, int(raw)))
        elif path.is_dir():
            images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not images:
                raise UsageError(f"no images in {path}")
            found += [("image", p, None) for p in images]
        elif not path.exists():
            raise UsageError(f"input not found: {path}")
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            found.append(("image", path, None))
        elif path.suffix.lower() in VIDEO_SUFFIXES:
            found.append(("video", path, None))
        else:
            raise UsageError(f"{path}: not an image ({', '.join(sorted(IMAGE_SUFFIXES))}) or a video")
    if any(kind != "image" for kind, _, _ in found):
        _cv2()
    stems = [p.stem if p is not None else f"camera{c}" for _, p, c in found]
    sources = []
    for (kind, path, camera), stem in zip(found, stems):
        name = stem if stems.count(stem) == 1 else f"{path.parent.name}_{stem}" if path else stem
        sources.append(Source(kind, path, name, camera))
    if len({s.name for s in sources}) != len(sources):
        raise UsageError("two inputs would write the same output name; give them different names")
    return sources


def _cv2():
    try:
        import cv2
    except ImportError:
        raise UsageError("video and camera input need OpenCV: pip install 'edgeseg[video]'") from None
    return cv2


def mask_image(prediction: Prediction, classes: int) -> Image.Image:
    if prediction.instances is not None:  # instance ids: a 16-bit PNG, 0 = background
        return Image.fromarray(np.minimum(prediction.mask, 65535).astype(np.uint16))
    mask = prediction.mask.astype(np.uint8)
    return Image.fromarray(mask * 255 if classes == 1 else mask)


def overlay_figure(pixels: np.ndarray, prediction: Prediction) -> Image.Image:
    """original | mask | overlay, side by side, as in the seed notebook's figures."""
    unit = to_unit_float(pixels)
    rgb = (np.repeat(unit[..., :1], 3, -1) if unit.shape[-1] == 1 else unit[..., :3]) * 255
    if prediction.instances is not None:
        from ..instances.decode import instance_colours

        colors = instance_colours(prediction.mask).astype(np.float32)
    else:
        colors = PALETTE[np.minimum(prediction.mask, len(PALETTE) - 1)].astype(np.float32)
    blend = np.where(prediction.mask[..., None] > 0, 0.55 * rgb + 0.45 * colors, rgb)
    return Image.fromarray(np.concatenate([rgb, colors, blend], axis=1).round().astype(np.uint8))


class _NoProgress:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int | None, desc: str, shown: bool = True):
    """tqdm where it is installed (ai-edge-litert brings it) and wanted, else nothing."""
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoProgress()
    return tqdm(total=total, desc=desc, unit="img" if desc == "images" else "frame", leave=False) if shown \
        else _NoProgress()


def _frames(source: Source, max_frames: int | None) -> Iterator[np.ndarray]:
    cv2 = _cv2()
    capture = cv2.VideoCapture(source.camera if source.kind == "camera" else str(source.path))
    if not capture.isOpened():
        raise UsageError(f"cannot open {'camera ' + str(source.camera) if source.kind == 'camera' else source.path}")
    try:
        count = 0
        while max_frames is None or count < max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            count += 1
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()


def predict_all(segmenter: Segmenter, inputs: list[str], out: Path, overlay: bool = False, tile: bool = False,
                force: bool = False, max_frames: int | None = None) -> int:
    """Writes OUT/<name>_mask.png (and _overlay.png) per image, OUT/<video>/frame_NNNNNN_*.png
    per frame; atomically. Returns the number of masks written."""
    sources = collect_sources(inputs)
    if any(s.kind == "camera" for s in sources) and max_frames is None:
        raise UsageError("a camera never ends: give --max-frames N")
    classes = segmenter.spec.classes
    written = 0

    def save(pixels, prediction, directory: Path, stem: str) -> None:
        mask_image(prediction, classes).save(directory / f"{stem}_mask.png")
        if prediction.instances is not None:  # per-instance records: id, area, box, centroid, score
            (directory / f"{stem}_instances.json").write_text(json.dumps(prediction.instances.to_dicts()))
        if overlay:
            overlay_figure(pixels, prediction).save(directory / f"{stem}_overlay.png")

    with atomic_output_dir(out, force, inputs=[s.path for s in sources]) as tmp:
        images = [s for s in sources if s.kind == "image"]
        bar = _progress(len(images), "images", shown=len(images) > 1)
        for source in images:
            pixels = read_pixels(source.path)
            save(pixels, segmenter.predict(pixels, tile), tmp, source.name)
            written += 1
            bar.update(1)
        bar.close()
        for source in (s for s in sources if s.kind != "image"):
            directory = tmp / source.name
            directory.mkdir()
            bar = _progress(max_frames, source.name)
            for index, frame in enumerate(_frames(source, max_frames), start=1):
                save(frame, segmenter.predict(frame, tile), directory, f"frame_{index:06d}")
                written += 1
                bar.update(1)
            bar.close()
    return written
