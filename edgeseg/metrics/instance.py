"""Instance segmentation metrics in pure numpy.

Conventions (shared with edgeseg.metrics):
- Predictions and truths are integer instance-label maps of the same shape; 0 is background and
  every other value is one object. Ids need not be consecutive.
- A prediction and a truth match when their IoU is above 0.5. Such a match is unique (two
  objects cannot both overlap a third by more than half), so no assignment solver is needed.
- An image with no objects in truth or prediction scores 1 on every ratio (nothing to find,
  nothing found), as Dice does in edgeseg.metrics.
- "per-image" values are means over images; "pooled" values add the counts of all images first,
  so crowded images weigh more.

Metrics: F1 at IoU 0.5; panoptic quality PQ = SQ x RQ (Kirillov et al. 2019), where SQ is the
mean IoU of matched pairs and RQ equals F1; the aggregated Jaccard index (AJI, Kumar et al. 2017);
and the count error (predicted minus true objects).
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field

import numpy as np

from .semantic import image_pairs

MATCH_IOU = 0.5


@dataclass(frozen=True)
class Overlap:
    """The contingency table of one image: intersections and areas of every id pair."""

    intersection: np.ndarray  # (pred objects, true objects) pixel counts
    pred_area: np.ndarray  # (pred objects,)
    true_area: np.ndarray  # (true objects,)

    @property
    def iou(self) -> np.ndarray:
        union = self.pred_area[:, None] + self.true_area[None, :] - self.intersection
        return self.intersection / np.maximum(union, 1)


def overlap(pred: np.ndarray, truth: np.ndarray) -> Overlap:
    """One bincount over (pred id, true id) pairs: linear in pixels, whatever the object count."""
    pred, truth = np.asarray(pred), np.asarray(truth)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction shape {pred.shape} != truth shape {truth.shape}")
    pred_ids, pred_index = np.unique(pred, return_inverse=True)
    true_ids, true_index = np.unique(truth, return_inverse=True)
    # Index 0 stands for background in both, present in the table even when no pixel is background.
    pred_index = pred_index.ravel() + (0 if pred_ids[0] == 0 else 1)
    true_index = true_index.ravel() + (0 if true_ids[0] == 0 else 1)
    n_pred = int(np.count_nonzero(pred_ids)) + 1
    n_true = int(np.count_nonzero(true_ids)) + 1
    table = np.bincount(pred_index * n_true + true_index, minlength=n_pred * n_true).reshape(n_pred, n_true)
    return Overlap(table[1:, 1:], table[1:].sum(axis=1), table[:, 1:].sum(axis=0))


@dataclass(frozen=True)
class ImageCounts:
    """The additive quantities of one image; every score is a ratio of sums of these."""

    tp: int
    fp: int
    fn: int
    matched_iou: float  # sum of the IoU of matched pairs
    aji_intersection: int
    aji_union: int

    @property
    def true_objects(self) -> int:
        return self.tp + self.fn

    @property
    def pred_objects(self) -> int:
        return self.tp + self.fp


def _aji_sums(table: Overlap) -> tuple[int, int]:
    """Kumar et al.: each true object takes the prediction of highest IoU with it (a prediction
    may serve several); every prediction never taken adds its whole area to the union."""
    if table.true_area.size == 0:
        return 0, int(table.pred_area.sum())
    if table.pred_area.size == 0:
        return 0, int(table.true_area.sum())
    best = table.iou.argmax(axis=0)
    cols = np.arange(table.true_area.size)
    inter = table.intersection[best, cols]
    union = table.pred_area[best] + table.true_area - inter
    unused = np.ones(table.pred_area.size, bool)
    unused[best] = False
    return int(inter.sum()), int(union.sum() + table.pred_area[unused].sum())


def image_counts(pred: np.ndarray, truth: np.ndarray) -> ImageCounts:
    table = overlap(pred, truth)
    ious = table.iou
    matched = ious > MATCH_IOU
    tp = int(matched.sum())
    aji_i, aji_u = _aji_sums(table)
    return ImageCounts(tp, table.pred_area.size - tp, table.true_area.size - tp, float(ious[matched].sum()),
                       aji_i, aji_u)


def scores(counts: ImageCounts) -> dict:
    """F1, PQ, SQ, RQ, AJI and count error of one image, or of pooled counts."""
    tp, fp, fn = counts.tp, counts.fp, counts.fn
    if tp + fp + fn == 0:
        f1 = sq = 1.0
    else:
        f1 = tp / (tp + 0.5 * fp + 0.5 * fn)
        sq = counts.matched_iou / tp if tp else 0.0
    aji = counts.aji_intersection / counts.aji_union if counts.aji_union else 1.0
    return {"f1": f1, "pq": sq * f1, "sq": sq, "rq": f1, "aji": aji,
            "count_error": counts.pred_objects - counts.true_objects}


def add(a: ImageCounts, b: ImageCounts) -> ImageCounts:
    return ImageCounts(a.tp + b.tp, a.fp + b.fp, a.fn + b.fn, a.matched_iou + b.matched_iou,
                       a.aji_intersection + b.aji_intersection, a.aji_union + b.aji_union)


RATIOS = ("f1", "pq", "sq", "rq", "aji")
# The instance scores a report row carries, in report order.
SCORE_KEYS = ("pq", "sq", "rq", "f1", "aji", "count_mae")


@dataclass
class InstanceScoreAccumulator:
    """Streams label maps in, one image or batch at a time, so evaluation memory stays bounded."""

    _images: list[ImageCounts] = field(default_factory=list)

    def update(self, pred: np.ndarray, truth: np.ndarray) -> None:
        for p, t in image_pairs(pred, truth):
            self._images.append(image_counts(p, t))

    @property
    def images(self) -> int:
        return len(self._images)

    def result(self) -> dict:
        """Pooled ratios under their own names, per-image means as NAME_per_image, and the
        count error as mean absolute (count_mae) and mean signed (count_bias) difference."""
        if not self._images:
            raise ValueError("no images were scored")
        pooled = self._images[0]
        for counts in self._images[1:]:
            pooled = add(pooled, counts)
        out = {name: value for name, value in scores(pooled).items() if name in RATIOS}
        per_image = [scores(c) for c in self._images]
        for name in RATIOS:
            out[f"{name}_per_image"] = float(np.mean([s[name] for s in per_image]))
        errors = np.array([s["count_error"] for s in per_image], np.float64)
        out.update(count_mae=float(np.abs(errors).mean()), count_bias=float(errors.mean()),
                   true_objects=pooled.true_objects, pred_objects=pooled.pred_objects, images=self.images)
        return out


def format_instance_scores(result: dict) -> str:
    return (f"PQ {result['pq']:.4f} (SQ {result['sq']:.4f}, RQ {result['rq']:.4f})  F1@0.5 {result['f1']:.4f}  "
            f"AJI {result['aji']:.4f}  count error {result['count_mae']:.2f}/image "
            f"({result['pred_objects']} found, {result['true_objects']} true)  on {result['images']} images")


def coco_mask_ap(preds: list[np.ndarray], truths: list[np.ndarray], scores_per_image: list[dict] | None = None,
                 max_dets: int = 1000) -> dict:
    """COCO mask AP through the optional pycocotools (`pip install 'edgeseg[coco]'`).

    preds/truths: instance-label maps, one per image; scores_per_image: {id: confidence} per
    image (all 1.0 when not given, which makes AP a ranking by nothing: pass decoder scores).
    max_dets replaces COCO's limit of 100 detections per image, too low for dense scenes."""
    from ..errors import UsageError

    try:
        from pycocotools import mask as mask_utils
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise UsageError("COCO mask AP needs pycocotools: pip install 'edgeseg[coco]'") from None
    images, gt_anns, dt_anns = [], [], []
    for index, (pred, truth) in enumerate(zip(preds, truths)):
        h, w = truth.shape
        images.append({"id": index, "height": h, "width": w})
        for object_id in np.unique(truth[truth > 0]):
            rle = mask_utils.encode(np.asfortranarray((truth == object_id).astype(np.uint8)))
            gt_anns.append({"id": len(gt_anns) + 1, "image_id": index, "category_id": 1, "segmentation": rle,
                            "area": float(mask_utils.area(rle)), "iscrowd": 0})
        confidences = scores_per_image[index] if scores_per_image else {}
        for object_id in np.unique(pred[pred > 0]):
            rle = mask_utils.encode(np.asfortranarray((pred == object_id).astype(np.uint8)))
            dt_anns.append({"image_id": index, "category_id": 1, "segmentation": rle,
                            "score": float(confidences.get(int(object_id), 1.0))})
    if not dt_anns:
        return {"ap": 0.0, "ap50": 0.0, "ap75": 0.0, "max_dets": max_dets}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        ground = COCO()
        ground.dataset = {"images": images, "annotations": gt_anns, "categories": [{"id": 1, "name": "object"}]}
        ground.createIndex()
        evaluation = COCOeval(ground, ground.loadRes(dt_anns), iouType="segm")
        evaluation.params.maxDets = [1, 10, max_dets]
        evaluation.evaluate()
        evaluation.accumulate()
    # Read AP from the precision table: summarize() computes its headline AP at a hard-coded 100.
    precision = evaluation.eval["precision"][:, :, 0, 0, -1]  # (IoU thresholds, recall), area "all", max_dets
    thresholds = list(np.round(evaluation.params.iouThrs, 2))

    def mean_valid(values: np.ndarray) -> float:
        valid = values[values > -1]
        return float(valid.mean()) if valid.size else 0.0

    return {"ap": mean_valid(precision), "ap50": mean_valid(precision[thresholds.index(0.5)]),
            "ap75": mean_valid(precision[thresholds.index(0.75)]), "max_dets": max_dets}
