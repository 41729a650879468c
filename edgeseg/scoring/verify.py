"""Every artifact is loaded and scored in the runtime that will run it.

Beside its scores, verification records facts for the budget (which alone decides): whether the
output has collapsed onto the threshold (metrics/collapse.py), and, given the user's original
float model, how closely the artifact follows it (`original_*` keys): an artifact is judged
against the model the user gave, not only against the pruned model it was made from."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.dataset import SegmentationData
from ..metrics import CollapseAccumulator, collapse_reason, probabilities_to_labels
from .predictors import AgreementAccumulator, Predictor, evaluate_predictor
from ..runtimes import reference_runtime


@dataclass
class Verified:
    runtime: str
    scores: dict
    load_seconds: float
    session: object = field(repr=False, default=None)


def open_in_runtime(path: Path) -> tuple[object, float, str]:
    """(session, load seconds, runtime name) of an artifact in the runtime that will run it."""
    runtime = reference_runtime(path)
    ok, reason = runtime.is_available()
    if not ok:
        raise RuntimeError(f"{runtime.name} unavailable: {reason}")
    start = time.perf_counter()
    session = runtime.load(path)
    return session, time.perf_counter() - start, runtime.name


ORIGINAL = "original_"  # the prefix of agreement with the user's original float model
# Against the user's original model, probabilities may drift further than an artifact from its own
# source (0.05 there measures quantization error alone): pruning and fine-tuning recalibrate confidence
# (a nested U-Net pruned by half kept 95% mask agreement, max probability 0.86, mean |dp| 0.072). A
# collapsed output differs by ~0.45 on every foreground pixel; this bound still refuses that.
ORIGINAL_MAX_MEAN_ABS_DIFF = 0.15


def observed(predict: Predictor, threshold: float, original: Predictor | None = None):
    """(`predict` that also records its outputs' facts, the facts so far): collapse facts, and
    with `original`, agreement with it as `original_mask_agreement`/`original_mean_abs_diff`/..."""
    collapse, agreement = CollapseAccumulator(threshold), AgreementAccumulator()

    def run(images: np.ndarray) -> np.ndarray:
        probs = np.asarray(predict(images), np.float32)
        collapse.update(probs)
        if original is not None:
            expected = np.asarray(original(images), np.float32)
            agreement.update(probs, probabilities_to_labels(probs, threshold),
                             expected, probabilities_to_labels(expected, threshold))
        return probs

    def facts() -> dict:
        found = collapse.result()
        if original is not None and agreement.values:
            found.update({ORIGINAL + k: v for k, v in agreement.result().items()})
        return found

    return run, facts


def verify(path: Path, val: SegmentationData, reference: Predictor, batch_size: int,
           original: Predictor | None = None) -> Verified:
    """Scores against the truth and against `reference` (the float model it was made from);
    `original` (the user's float model) adds the original_* agreement facts."""
    session, load_seconds, runtime = open_in_runtime(path)
    run, facts = observed(session.run, val.spec.threshold, original)
    scores = evaluate_predictor(run, val, batch_size, reference=reference)
    scores.update(facts())
    return Verified(runtime, scores, load_seconds, session)


def original_problem(scores: dict, min_mask_agreement: float, max_mean_abs_diff: float) -> str | None:
    """Why verification facts refuse an artifact whatever its Dice: a collapsed output, or one
    that does not follow the user's original float model (None when neither, or not measured)."""
    collapsed = collapse_reason(scores)
    if collapsed:
        return collapsed
    masks, diff = scores.get(ORIGINAL + "mask_agreement"), scores.get(ORIGINAL + "mean_abs_diff")
    if masks is not None and masks < min_mask_agreement:
        return (f"its masks disagree with the original float model's (mask agreement {masks:.4f} < "
                f"{min_mask_agreement})")
    if diff is not None and diff > max_mean_abs_diff:
        return (f"its probabilities differ from the original float model's by {diff:.4f} on average "
                f"(> {max_mean_abs_diff})")
    return None


def float_source_problem(predict: Predictor, original: Predictor, val: SegmentationData, batch_size: int,
                         min_mask_agreement: float, max_mean_abs_diff: float) -> tuple[dict, str | None]:
    """(facts, why it is refused or None) for a pruned float model, judged like its artifacts
    against the user's original model, before any artifact is made from it."""
    run, facts = observed(predict, val.spec.threshold, original)
    for images, _ in val.batches(batch_size):
        run(images)
    found = facts()
    return found, original_problem(found, min_mask_agreement, max_mean_abs_diff)
