"""A float source's validation scores by its model's task, and the line that logs them.

A pruned semantic model is scored by Dice; a pruned instance model by PQ/F1 decoded with the
spec's stored settings (with foreground Dice beside them), so the budget sees PQ for it as for
its base model. Which scorer is a table keyed by spec.task."""
from __future__ import annotations

from typing import Callable

from ..config import PreprocessSpec
from ..data.dataset import SegmentationData
from ..scoring.predictors import Predictor, evaluate_predictor, format_scores

# the scores a pruned source's report section carries, where the task measured them
HEADLINE = ("dice", "iou", "pq", "sq", "rq", "f1")


def _semantic(reference: Predictor, val: SegmentationData, spec: PreprocessSpec, batch_size: int) -> dict:
    return evaluate_predictor(reference, val, batch_size)


def _instance(reference: Predictor, val: SegmentationData, spec: PreprocessSpec, batch_size: int) -> dict:
    from ..instances.scoring import decode_settings, predict_all
    from .instance import instance_scores

    outputs, truths = predict_all(reference, val, batch_size)
    return instance_scores(outputs, truths, decode_settings(spec.decode))


def format_instance_scores(scores: dict) -> str:
    return (f"PQ {scores['pq']:.4f} (SQ {scores['sq']:.4f}, RQ {scores['rq']:.4f})  F1@0.5 {scores['f1']:.4f}  "
            f"foreground Dice {scores['dice']:.4f}  on {scores['images']} images")


# spec.task -> (scorer, the log line of its scores)
SCORERS: dict[str, tuple[Callable[..., dict], Callable[[dict], str]]] = {
    "semantic": (_semantic, format_scores),
    "instance": (_instance, format_instance_scores),
}


def source_scores(reference: Predictor, val: SegmentationData, spec: PreprocessSpec, batch_size: int) -> dict:
    """The float source's validation scores as its task measures them."""
    return SCORERS[spec.task][0](reference, val, spec, batch_size)


def describe_scores(scores: dict, spec: PreprocessSpec) -> str:
    return SCORERS[spec.task][1](scores)


def headline_scores(scores: dict) -> dict:
    """The scores a report section carries: Dice and IoU always, PQ/SQ/RQ/F1 for instance models."""
    return {name: scores[name] for name in HEADLINE if name in scores}
