"""Device-side inference: a .tflite (LiteRT) or .onnx (onnxruntime) model, the preprocessing
spec, and images of any size in; probabilities and masks at the image's own size out.
Integer input/output quantization is handled inside the runtime sessions."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..config import PreprocessSpec
from ..data.preprocess import match_channels, normalize, resize_image, to_unit_float
from ..errors import ModelError, first_line
from ..metrics import probabilities_to_labels
from ..artifacts.describe import artifact_format

TILE_OVERLAP = 0.25


@dataclass(frozen=True)
class Prediction:
    probabilities: np.ndarray  # H x W x C float32, at the input image's size
    mask: np.ndarray  # H x W int32 labels: 0 background, 1.. classes (instance models: 1.. objects)
    instances: object | None = None  # instance models: instances.decode.Instances (ids, boxes, ...)


def _instance_settings(spec: PreprocessSpec):
    from ..instances.decode import DecodeSettings

    return DecodeSettings.from_dict(spec.decode)


def _semantic_labels(probs: np.ndarray, spec: PreprocessSpec, settings, grid) -> Prediction:
    return Prediction(probs, probabilities_to_labels(probs, spec.threshold))


def _instance_labels(probs: np.ndarray, spec: PreprocessSpec, settings, grid) -> Prediction:
    """Decoded once, after tiles are stitched, with the stored settings."""
    from ..instances.decode import decode

    found = decode(probs, settings, grid=grid)
    return Prediction(probs, found.labels, found)


@dataclass(frozen=True)
class Labelling:
    """How a task's probabilities become its labels on the device (the deploy side sits below
    scoring/, so it keeps this small table instead of asking the scoring door)."""

    settings: Callable[[PreprocessSpec], object]  # the spec's stored decoding settings, checked once
    labels: Callable[[np.ndarray, PreprocessSpec, object, tuple[int, int]], Prediction]  # (probs, spec, settings, grid)


LABELLING: dict[str, Labelling] = {
    "semantic": Labelling(lambda spec: None, _semantic_labels),
    "instance": Labelling(_instance_settings, _instance_labels),
}


def open_session(path: Path, fmt: str, threads: int | None):
    from ..runtimes import REGISTRY

    name = {"tflite": "litert-cpu", "onnx": "ort-cpu", "edgetpu": "litert-edgetpu"}.get(fmt)
    if name is None:
        raise ModelError(f"{path}: the device runtime runs .tflite and .onnx models, not {path.suffix or 'this file'}")
    runtime = REGISTRY[name]
    ok, reason = runtime.is_available()
    if not ok:
        raise ModelError(f"cannot run {path.name}: {reason}")
    try:
        return runtime.load(path, threads)
    except Exception as exc:  # a corrupt or foreign model fails inside the runtime in many ways
        raise ModelError(f"cannot load {path}: {first_line(exc)[:300]}") from None


def _stored_spec(path: Path) -> dict | None:
    """The spec the artifact carries (TFLite metadata or ONNX metadata_props), read from the file."""
    from ..artifacts.describe import describe

    return describe(path).spec


def _report_spec(path: Path) -> dict | None:
    """The spec of the compress report beside the model; a malformed report is an error, not
    something to skip silently."""
    from ..artifacts.compress_report import find_compress_report

    report = find_compress_report(path.parent)
    return None if report is None else report.spec


def _shape_spec(session, normalize_mode: str) -> PreprocessSpec:
    inp, out = (desc.shape for desc in session.io)
    if any(d is None for d in list(inp[1:]) + [out[-1]]):
        raise ModelError("the model's input size is not fixed and it carries no preprocessing spec")
    return PreprocessSpec(int(inp[1]), int(inp[2]), int(inp[3]), normalize_mode, classes=int(out[-1]))


class Segmenter:
    """Loads once, then predict() per image. Spec, in order: given, stored in the model by
    compress, report.json beside the model, or the model's input shape with `normalize`."""

    def __init__(self, model_path: Path, spec: PreprocessSpec | None = None, threads: int | None = None,
                 normalize_mode: str | None = None):
        path = Path(model_path)
        if not path.is_file():
            raise ModelError(f"model file not found: {path}")
        fmt = artifact_format(path)
        self.path, self.format = path, fmt
        self.session = open_session(path, fmt or path.suffix, threads)
        stored = None if spec is not None else (_stored_spec(path) or _report_spec(path))
        if spec is not None:
            self.spec, self.spec_source = spec, "given"
        elif stored is not None:
            self.spec, self.spec_source = PreprocessSpec.from_dict(stored), "stored with the model"
            if normalize_mode is not None and normalize_mode != self.spec.normalize:
                raise ModelError(f"{path.name} was made with normalize {self.spec.normalize}; leave --normalize out")
        else:
            self.spec = _shape_spec(self.session, normalize_mode or "0-1")
            self.spec_source = f"the model's input shape, normalize {self.spec.normalize} (no stored spec)"
        # settings made elsewhere: refused now, in one line, not at the first image
        self.decode_settings = LABELLING[self.spec.task].settings(self.spec)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self.session.run(batch.astype(np.float32)), np.float32)

    def predict(self, pixels: np.ndarray, tile: bool = False) -> Prediction:
        """pixels: H x W (x C) integer or [0, 1] float image of any size."""
        spec = self.spec
        unit = match_channels(to_unit_float(pixels), spec.channels)
        height, width = unit.shape[:2]
        tiled = tile and height >= spec.height and width >= spec.width
        if tiled:
            probs = self._tiled(normalize(unit, spec.normalize))
        else:
            model_input = normalize(resize_image(unit, spec.height, spec.width), spec.normalize)
            probs = resize_image(self._run(model_input[None])[0], height, width)
        # Areas and the smoothing window count pixels of the network's output grid: tiles are at
        # that resolution already; a whole-image prediction was resized from the model's size.
        grid = probs.shape[:2] if tiled else (spec.height, spec.width)
        return LABELLING[spec.task].labels(probs, spec, self.decode_settings, grid)

    def _tiled(self, image: np.ndarray) -> np.ndarray:
        """Sliding windows at the model's input size, 25% overlap, averaged where they meet:
        the image is seen at its own resolution instead of being shrunk."""
        th, tw = self.spec.height, self.spec.width
        height, width = image.shape[:2]
        ys, xs = _starts(height, th), _starts(width, tw)
        windows = [(y, x) for y in ys for x in xs]
        total = weight = None
        for first in range(0, len(windows), 16):
            chunk = windows[first:first + 16]
            outputs = self._run(np.stack([image[y:y + th, x:x + tw] for y, x in chunk]))
            if total is None:
                total = np.zeros((height, width, outputs.shape[-1]), np.float32)
                weight = np.zeros((height, width, 1), np.float32)
            for (y, x), out in zip(chunk, outputs):
                total[y:y + th, x:x + tw] += out
                weight[y:y + th, x:x + tw] += 1.0
        return total / weight


def _starts(length: int, size: int) -> list[int]:
    stride = max(1, int(size * (1 - TILE_OVERLAP)))
    starts = list(range(0, length - size + 1, stride))
    if starts[-1] + size < length:
        starts.append(length - size)
    return starts
