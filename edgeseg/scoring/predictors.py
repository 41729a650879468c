"""Scoring any predictor (Keras, LiteRT, onnxruntime) on a dataset, one batch at a time."""
from __future__ import annotations

import hashlib
from typing import Callable

import numpy as np

from ..data.dataset import SegmentationData
from ..metrics import ScoreAccumulator, probabilities_to_labels

Predictor = Callable[[np.ndarray], np.ndarray]


def evaluate_predictor(predict: Predictor, data: SegmentationData, batch_size: int = 8,
                       reference: Predictor | None = None) -> dict:
    """Dice/IoU/pixel accuracy of `predict`; with `reference`, also the largest absolute
    difference between the two predictors' probabilities over the same images."""
    scores = ScoreAccumulator(labels=data.spec.labels)
    agreement = AgreementAccumulator()
    for images, truth in data.batches(batch_size):
        probs = np.asarray(predict(images), dtype=np.float32)
        labels = probabilities_to_labels(probs, data.spec.threshold)
        scores.update(labels, truth)
        if reference is not None:
            expected = np.asarray(reference(images), np.float32)
            agreement.update(probs, labels, expected, probabilities_to_labels(expected, data.spec.threshold))
    result = scores.result()
    if reference is not None:
        result.update(agreement.result())
    return result


class AgreementAccumulator:
    """How closely a predictor follows a reference on the same images, independent of the
    ground truth: Dice between the two foreground masks (1.0 when both are empty), and the
    largest and mean absolute probability differences."""

    def __init__(self):
        self.common = self.total = 0
        self.max_diff = self.diff_sum = 0.0
        self.values = 0

    def update(self, probs: np.ndarray, labels: np.ndarray, expected: np.ndarray, expected_labels: np.ndarray):
        diff = np.abs(probs - expected)
        self.max_diff = max(self.max_diff, float(diff.max()))
        self.diff_sum += float(diff.sum())
        self.values += diff.size
        self.common += int(((labels == expected_labels) & (labels > 0)).sum())
        self.total += int((labels > 0).sum() + (expected_labels > 0).sum())

    def result(self) -> dict:
        return {"max_abs_diff": self.max_diff, "mean_abs_diff": self.diff_sum / max(self.values, 1),
                "mask_agreement": 2 * self.common / self.total if self.total else 1.0}


def memoized(predict: Predictor, max_bytes: int = 512 * 2**20) -> Predictor:
    """Remembers outputs by input content, up to max_bytes of outputs, so a reference model
    scored against many artifacts on the same images runs once per image batch."""
    cache: dict[bytes, np.ndarray] = {}
    used = 0

    def run(images: np.ndarray) -> np.ndarray:
        nonlocal used
        key = hashlib.sha1(np.ascontiguousarray(images).view(np.uint8)).digest() + str(images.shape).encode()
        if key in cache:
            return cache[key]
        out = np.asarray(predict(images))
        if used + out.nbytes <= max_bytes:
            cache[key] = out
            used += out.nbytes
        return out

    return run


def keras_predictor(model, batch_size: int = 8) -> Predictor:
    return lambda images: model.predict(images, batch_size=batch_size, verbose=0)


def format_scores(scores: dict) -> str:
    text = (f"Dice {scores['dice']:.4f} (per-image {scores['dice_per_image']:.4f})  "
            f"IoU {scores['iou']:.4f} (per-image {scores['iou_per_image']:.4f})  "
            f"pixel accuracy {scores['pixel_accuracy']:.4f}  on {scores['images']} images")
    if "dice_per_class" in scores:
        text += "  per-class Dice " + ", ".join(f"{d:.3f}" for d in scores["dice_per_class"])
    return text
