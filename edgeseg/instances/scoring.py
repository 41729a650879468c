"""Scoring instance predictors (Keras, LiteRT, onnxruntime) on a dataset, and tuning the
decoding settings on validation data once, with the float model."""
from __future__ import annotations

import dataclasses
import itertools
from typing import Callable, Iterable

import numpy as np

from ..data.dataset import SegmentationData
from .decode import DecodeSettings, decode
from ..metrics.instance import ImageCounts, InstanceScoreAccumulator, image_counts

Predictor = Callable[[np.ndarray], np.ndarray]

# The grid tune_decoding searches by default: foreground threshold x seed (inner distance) level x
# smoothing of the distance (1 = none; last, so a tie keeps the map as the network made it).
# Small on purpose: each point decodes every validation image once, the network runs only once.
DEFAULT_GRID: dict[str, tuple] = {
    "foreground": (0.4, 0.5, 0.6),
    "seed": (0.3, 0.4, 0.5, 0.6, 0.7),
    "smooth": (1, 3, 5),
}


def predict_all(predict: Predictor, data: SegmentationData, batch_size: int = 8,
                limit: int | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(network outputs, true label maps), one per image; the network runs once per image."""
    outputs, truths = [], []
    for images, truth in data.batches(batch_size, limit):
        outputs.extend(np.asarray(predict(images), np.float32))
        truths.extend(truth)
    return outputs, truths


def score_outputs(outputs: Iterable[np.ndarray], truths: Iterable[np.ndarray], settings: DecodeSettings) -> dict:
    scores = InstanceScoreAccumulator()
    for probs, truth in zip(outputs, truths):
        scores.update(decode(probs, settings).labels, truth)
    return scores.result()


def evaluate_instances(predict: Predictor, data: SegmentationData, settings: DecodeSettings | None = None,
                       batch_size: int = 8) -> dict:
    """PQ/SQ/RQ, F1@0.5, AJI and count error of `predict` decoded with `settings` (default:
    the spec's stored settings)."""
    settings = settings or DecodeSettings.from_dict(data.spec.decode)
    outputs, truths = predict_all(predict, data, batch_size)
    return score_outputs(outputs, truths, settings)


@dataclasses.dataclass(frozen=True)
class TuningResult:
    settings: DecodeSettings
    scores: dict  # at the chosen settings
    table: list[dict]  # every grid point: its settings and PQ, F1

    def to_dict(self) -> dict:
        return {"settings": self.settings.to_dict(), "scores": self.scores, "table": self.table}


@dataclasses.dataclass(frozen=True)
class GridCounts:
    """Every grid point's per-image match counts, each image decoded once per point: tuning on
    any subset of the images (a cross-fit's folds) is then a sum, not another decoding pass."""
    points: list[DecodeSettings]
    values: list[dict]  # the grid's values at each point
    counts: list[list[ImageCounts]]  # [point][image]

    def scores(self, point: int, images: Iterable[int]) -> dict:
        """Pooled scores at one grid point over `images`, exactly as score_outputs computes them."""
        return InstanceScoreAccumulator([self.counts[point][i] for i in images]).result()

    def best(self, images: Iterable[int]) -> int:
        """The grid point of highest pooled PQ over `images` (ties: higher F1, then the earlier point)."""
        images = list(images)
        keys = []
        for point in range(len(self.points)):
            result = self.scores(point, images)
            keys.append((result["pq"], result["f1"]))
        return max(range(len(keys)), key=lambda point: (keys[point], -point))


def grid_counts(outputs: list[np.ndarray], truths: list[np.ndarray], base: DecodeSettings | None = None,
                grid: dict[str, tuple] | None = None) -> GridCounts:
    """Decodes every output at every grid point (starting from `base` for the settings the grid
    does not vary) and keeps each image's counts against its truth."""
    base = base or DecodeSettings()
    grid = grid or DEFAULT_GRID
    names = list(grid)
    points, values, counts = [], [], []
    for combination in itertools.product(*(grid[n] for n in names)):
        settings = dataclasses.replace(base, **dict(zip(names, combination)))
        points.append(settings)
        values.append(dict(zip(names, combination)))
        counts.append([image_counts(decode(probs, settings).labels, truth) for probs, truth in zip(outputs, truths)])
    return GridCounts(points, values, counts)


def tune_decoding(outputs: list[np.ndarray], truths: list[np.ndarray], base: DecodeSettings | None = None,
                  grid: dict[str, tuple] | None = None, table: GridCounts | None = None) -> TuningResult:
    """The grid point of highest pooled PQ (ties: higher F1, then the earlier point), starting
    from `base` for the settings the grid does not vary. Pass the float model's outputs on
    validation data; store result.settings in the spec so the device decodes the same way.
    `table`: grid_counts of these outputs, when the caller has it (it cross-fits on it too)."""
    table = table or grid_counts(outputs, truths, base, grid)
    every = range(len(truths))
    rows = []
    for point, values in enumerate(table.values):
        result = table.scores(point, every)
        rows.append({**values, "pq": round(result["pq"], 4), "f1": round(result["f1"], 4)})
    chosen = table.best(every)
    return TuningResult(table.points[chosen], table.scores(chosen, every), rows)


def instance_agreement(reference: list[np.ndarray], outputs: list[np.ndarray], settings: DecodeSettings,
                       reference_settings: DecodeSettings | None = None) -> dict:
    """How well an artifact's instances match the float model's on the same images: instance
    scores with the float model's decoded objects as the truth (PQ 1 = the same objects). The
    float model's outputs are decoded with `reference_settings` when the artifact has its own."""
    scores = InstanceScoreAccumulator()
    for ref, out in zip(reference, outputs):
        scores.update(decode(out, settings).labels, decode(ref, reference_settings or settings).labels)
    return scores.result()


def decode_settings(raw: dict | None = None) -> DecodeSettings:
    """The decoder's settings from a spec's stored dict (the defaults for None): for callers
    that must not import the device side themselves (compress)."""
    return DecodeSettings.from_dict(raw)
