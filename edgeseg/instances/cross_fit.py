"""What tuning the decoding settings is worth on images it did not see: cross-fitting.

tune_decoding picks the grid point of highest PQ on the images it is given; scoring those
settings on the same images is selection on the scoring data, optimistic most where it matters
(a user's 7-16 validation images). cross_fit splits the images into k folds, tunes on all but
one fold and decodes that fold with the settings so chosen, so no image is ever scored with
settings tuned on it; every fold's images are pooled into one InstanceScoreAccumulator, so the
held-out scores are pooled exactly as the in-sample ones are.

The settings SHIPPED stay those tuned on all the images (more data); the held-out scores say
what that procedure is worth on new images.

Folds are assigned round-robin by position (image i goes to fold i % k): deterministic, and
each fold spans the whole list, so a list ordered by file name (neighbouring crops of one
picture) does not put one region wholly in one fold. k defaults to 2; k larger than the number
of images becomes leave-one-out; with fewer than two images nothing can be held out and
cross_fit returns None. Every image is decoded once per grid point whatever k (GridCounts), so
leave-one-out costs no more decoding than k = 2.

Which k (folds_for): each fold's tuning sees (k-1)/k of the images, so the held-out score is
that of tuning on fewer images than the settings shipped were tuned on: pessimistic, and most
with k = 2 on few images (7 images: 3 or 4 per tuning). Up to LEAVE_ONE_OUT_UP_TO images (a
user's typical 7-16) compress therefore holds out one image at a time (tuning on n - 1); above
that, 2 folds (each tuning still sees at least 8 images)."""
from __future__ import annotations

import dataclasses

import numpy as np

from .decode import DecodeSettings, decode
from .scoring import GridCounts, grid_counts
from ..metrics.instance import InstanceScoreAccumulator

DEFAULT_FOLDS = 2
LEAVE_ONE_OUT_UP_TO = 16


def folds_for(images: int) -> int:
    """compress's k: leave-one-out for few images, DEFAULT_FOLDS above LEAVE_ONE_OUT_UP_TO."""
    return max(images, 2) if images <= LEAVE_ONE_OUT_UP_TO else DEFAULT_FOLDS


def fold_indices(images: int, folds: int = DEFAULT_FOLDS) -> list[list[int]]:
    """The image positions of each fold, round-robin; min(folds, images) folds, none empty."""
    if folds < 2:
        raise ValueError(f"cross-fitting needs at least 2 folds, got {folds}")
    k = min(folds, images)
    return [list(range(fold, images, k)) for fold in range(k)]


@dataclasses.dataclass(frozen=True)
class HeldOutResult:
    scores: dict  # pooled over every image, each decoded with settings tuned without it
    folds: list[list[int]]  # image positions per fold
    fold_settings: list[DecodeSettings]  # what the tuning chose without each fold

    def to_dict(self) -> dict:
        """The tuning record's / artifact record's form: PQ and F1 up front, then how they were made."""
        return {"pq": self.scores["pq"], "f1": self.scores["f1"], "folds": len(self.folds),
                "images_per_fold": [len(f) for f in self.folds],
                "fold_settings": [s.to_dict() for s in self.fold_settings], "scores": self.scores}


def cross_fit(outputs: list[np.ndarray], truths: list[np.ndarray], base: DecodeSettings | None = None,
              grid: dict[str, tuple] | None = None, folds: int = DEFAULT_FOLDS,
              scored: list[np.ndarray] | None = None, table: GridCounts | None = None) -> HeldOutResult | None:
    """Held-out instance scores of tune_decoding(outputs, truths, base, grid): each fold decoded
    with the settings tuned on the other folds. `scored`: other outputs on the same images to
    decode with those settings (an int8 artifact decoded with settings tuned on the float
    model's outputs); by default `outputs` themselves. `table`: grid_counts of these outputs,
    when the caller has it (compress tunes on the same table). None with fewer than two images."""
    scored = outputs if scored is None else scored
    if not len(outputs) == len(truths) == len(scored):
        raise ValueError(f"{len(outputs)} outputs, {len(scored)} scored outputs, {len(truths)} truths")
    if len(outputs) < 2:
        return None
    split = fold_indices(len(outputs), folds)
    table = table or grid_counts(outputs, truths, base, grid)  # every image decoded once per grid point
    point_of: dict[int, int] = {}
    for fold in split:
        held = set(fold)
        point_of.update(dict.fromkeys(fold, table.best(i for i in range(len(outputs)) if i not in held)))
    scores = InstanceScoreAccumulator()
    for i, (probs, truth) in enumerate(zip(scored, truths)):  # image order, as score_outputs pools them
        scores.update(decode(probs, table.points[point_of[i]]).labels, truth)
    return HeldOutResult(scores.result(), split, [table.points[point_of[fold[0]]] for fold in split])
