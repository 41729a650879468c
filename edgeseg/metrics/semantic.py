"""Segmentation metrics in pure numpy.

Conventions:
- Predictions and truths are integer label maps of the same shape; label 0 is background.
- Dice and IoU are computed per foreground class and averaged over foreground classes.
- A class absent from both prediction and truth scores 1 (nothing to find, nothing found).
- "per-image" is the mean over images of each image's score; "global" pools the pixel
  counts of all images first, so large objects weigh more.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice of two binary masks. Empty prediction and empty truth -> 1."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    total = int(pred.sum()) + int(truth.sum())
    if total == 0:
        return 1.0
    return 2.0 * int(np.logical_and(pred, truth).sum()) / total


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of two binary masks. Both empty -> 1."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    union = int(np.logical_or(pred, truth).sum())
    if union == 0:
        return 1.0
    return int(np.logical_and(pred, truth).sum()) / union


# THRESHOLD_RULE is the one convention (compress, bench, predict, the device side; recorded in every
# spec): a pixel is foreground when its probability is strictly above the threshold. int8 outputs have
# a level at exactly 0.5 (128/256), so with `>=` a model that collapsed onto that level would count
# every pixel as foreground and could still score a Dice; with `>` it scores what it predicts.


def foreground(probs: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Boolean foreground of sigmoid probabilities, by THRESHOLD_RULE."""
    return np.asarray(probs) > threshold


def probabilities_to_labels(probs: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """(..., 1) sigmoid output -> 0/1 by THRESHOLD_RULE; (..., C) softmax output -> argmax."""
    probs = np.asarray(probs)
    if probs.shape[-1] == 1:
        return foreground(probs[..., 0], threshold).astype(np.int32)
    return np.argmax(probs, axis=-1).astype(np.int32)


def _counts(pred: np.ndarray, truth: np.ndarray, labels: int) -> np.ndarray:
    """Per foreground class: [intersection, pred pixels, truth pixels, union]."""
    out = np.zeros((labels - 1, 4), dtype=np.int64)
    for c in range(1, labels):
        p, t = pred == c, truth == c
        inter = int(np.logical_and(p, t).sum())
        ps, ts = int(p.sum()), int(t.sum())
        out[c - 1] = (inter, ps, ts, ps + ts - inter)
    return out


def _scores(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    inter, ps, ts, union = counts.T.astype(np.float64)
    denom = ps + ts
    d = np.where(denom == 0, 1.0, 2 * inter / np.maximum(denom, 1))
    j = np.where(union == 0, 1.0, inter / np.maximum(union, 1))
    return d, j


def image_pairs(pred: np.ndarray, truth: np.ndarray):
    """(prediction, truth) per image, from one image or a batch of them of the same shape."""
    pred, truth = np.asarray(pred), np.asarray(truth)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction shape {pred.shape} != truth shape {truth.shape}")
    if pred.ndim == 2:
        pred, truth = pred[None], truth[None]
    return zip(pred, truth)


@dataclass
class ScoreAccumulator:
    """Streams label maps in, one batch at a time, so evaluation memory stays bounded."""

    labels: int = 2
    _global: np.ndarray | None = None
    _per_image_dice: list = field(default_factory=list)
    _per_image_iou: list = field(default_factory=list)
    _correct: int = 0
    _pixels: int = 0

    def update(self, pred: np.ndarray, truth: np.ndarray) -> None:
        for p, t in image_pairs(pred, truth):
            c = _counts(p, t, self.labels)
            self._global = c if self._global is None else self._global + c
            d, j = _scores(c)
            self._per_image_dice.append(d)
            self._per_image_iou.append(j)
            self._correct += int((p == t).sum())
            self._pixels += p.size

    @property
    def images(self) -> int:
        return len(self._per_image_dice)

    def result(self) -> dict:
        if not self.images:
            raise ValueError("no images were scored")
        gd, gj = _scores(self._global)
        pd = np.mean(self._per_image_dice, axis=0)
        pj = np.mean(self._per_image_iou, axis=0)
        out = {
            "dice": float(gd.mean()),
            "iou": float(gj.mean()),
            "dice_per_image": float(pd.mean()),
            "iou_per_image": float(pj.mean()),
            "pixel_accuracy": self._correct / self._pixels,
            "images": self.images,
        }
        if self.labels > 2:
            out["dice_per_class"] = [float(v) for v in gd]
            out["iou_per_class"] = [float(v) for v in gj]
        return out
