"""Sanity before verdicts: is the float baseline itself plausible on this data, and does each
artifact agree with the float model it was made from?

The accuracy guard compares artifacts with the float model, so it cannot see a float model that
is wrong on this data (a Rescaling(1/255) model fed 0-1 images scores Dice 0 everywhere, and
every artifact "keeps" that Dice). These checks look at the baseline on its own, and name the
preprocessing that works when another one does."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ..config import NORMALIZE_CHOICES
from ..data.dataset import SegmentationData
from .predictors import Predictor, evaluate_predictor
from ..metrics import probabilities_to_labels

# Below this Dice a baseline is far from anything a trained model reaches on its own data.
MIN_BASELINE_DICE = 0.2
# Another normalization that scores this much more Dice on the probe images is the likely one.
BETTER_BY = 0.2
PROBE_IMAGES = 8
# An artifact must follow its float model: foreground masks overlapping this much (Dice between
# the two masks), and probabilities this close on average. Pixel agreement would be dominated
# by background, so the mask overlap is measured on foreground only.
MIN_MASK_AGREEMENT = 0.9
MAX_MEAN_ABS_DIFF = 0.05
INPUT_SCALING_LAYERS = ("Rescaling", "Normalization")


@dataclass
class BaselineCheck:
    ok: bool
    problems: list[str] = field(default_factory=list)
    alternatives: dict[str, float] = field(default_factory=dict)  # normalize -> Dice on the probe images
    input_layer: str | None = None
    suggestion: str | None = None  # the normalize value that works better, if one does
    skipped: str | None = None  # why the check could not judge (no real masks)

    def message(self) -> str:
        if self.skipped:
            note = f". Note: {self._layer_note()}" if self.input_layer else ""
            return f"baseline sanity check skipped: {self.skipped}{note}"
        if self.ok:
            note = f". Note: {self._layer_note()}" if self.input_layer else ""
            return "baseline sanity check passed" + note
        text = "float baseline failed the sanity check: " + "; ".join(self.problems) + \
               ": likely a preprocessing mismatch"
        if self.alternatives:
            tried = ", ".join(f"{n}: Dice {d:.4f}" for n, d in self.alternatives.items())
            text += f". Other normalizations on {PROBE_IMAGES} validation images: {tried}"
        if self.suggestion:
            text += f". Rerun with --normalize {self.suggestion}"
        if self.input_layer:
            text += f". {self._layer_note()}"
        return text

    def _layer_note(self) -> str:
        return (f"The model starts with {self.input_layer}: it scales its own input, so it usually wants "
                "raw pixels (--normalize none)")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self) | {"message": self.message()}


def input_scaling_layer(model) -> str | None:
    """'Rescaling(scale=0.00392, offset=0)' when the first layer after the input rescales it."""
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    if not layers or type(layers[0]).__name__ not in INPUT_SCALING_LAYERS:
        return None
    first = layers[0]
    if type(first).__name__ == "Rescaling":
        return f"Rescaling(scale={float(first.scale):.4g}, offset={float(first.offset):.4g})"
    return "Normalization"


def prediction_problems(probs: np.ndarray, truth: np.ndarray, threshold: float) -> list[str]:
    """What is implausible about a float model's predictions on images with known masks."""
    problems = []
    if float(np.std(probs)) < 1e-3:
        problems.append("the float model predicts the same value for every pixel")
    predicted = float((probabilities_to_labels(probs, threshold) > 0).mean())
    actual = float((truth > 0).mean())
    if actual > 0.005 and predicted < 0.05 * actual:
        problems.append(f"it predicts almost no foreground ({predicted:.2%} of pixels; the masks have {actual:.2%})")
    elif actual < 0.5 and predicted > 0.95:
        problems.append(f"it predicts foreground almost everywhere ({predicted:.2%} of pixels; "
                        f"the masks have {actual:.2%})")
    return problems


def _probe(val: SegmentationData, normalize: str | None = None) -> SegmentationData:
    spec = val.spec if normalize is None else dataclasses.replace(val.spec, normalize=normalize)
    return SegmentationData(val.samples[:PROBE_IMAGES], spec, val.synthetic_seed)


def check_baseline(predict: Predictor, val: SegmentationData, baseline_dice: float, model=None,
                   batch_size: int = 8) -> BaselineCheck:
    """Judges the float model on the validation data before any artifact is judged against it."""
    probe = _probe(val)
    pairs = list(probe.batches(batch_size))
    probs = np.concatenate([np.asarray(predict(images), np.float32) for images, _ in pairs])
    truth = np.concatenate([labels for _, labels in pairs])
    problems = prediction_problems(probs, truth, val.spec.threshold)
    if baseline_dice < MIN_BASELINE_DICE:
        problems.append(f"float Dice {baseline_dice:.4f} is far below what a trained model reaches")
    layer = input_scaling_layer(model) if model is not None else None
    if not problems:
        return BaselineCheck(True, input_layer=layer if val.spec.normalize != "none" else None)
    here = evaluate_predictor(predict, probe, batch_size)["dice"]
    alternatives = {n: evaluate_predictor(predict, _probe(val, n), batch_size)["dice"]
                    for n in NORMALIZE_CHOICES if n != val.spec.normalize}
    best = max(alternatives, key=alternatives.get)
    suggestion = best if alternatives[best] >= here + BETTER_BY else None
    if suggestion is None and layer is not None and val.spec.normalize != "none":
        suggestion = "none"
    return BaselineCheck(False, problems, alternatives, layer, suggestion)


def skipped(reason: str, model=None, normalize: str | None = None) -> BaselineCheck:
    """Without real masks the baseline cannot be judged; an input-scaling layer is still worth a note."""
    layer = input_scaling_layer(model) if model is not None and normalize != "none" else None
    return BaselineCheck(True, input_layer=layer, skipped=reason)


def check_agreement(mask_agreement: float | None, mean_abs_diff: float | None) -> tuple[bool, str]:
    """(ok, reason) for an artifact from its measured agreement with its float model."""
    if mask_agreement is None or mean_abs_diff is None:
        return True, "agreement not measured"
    if mask_agreement < MIN_MASK_AGREEMENT:
        return False, (f"its masks disagree with the float model's (mask agreement {mask_agreement:.4f} < "
                       f"{MIN_MASK_AGREEMENT}), whatever its Dice")
    if mean_abs_diff > MAX_MEAN_ABS_DIFF:
        return False, (f"its probabilities differ from the float model's by {mean_abs_diff:.4f} on average "
                       f"(> {MAX_MEAN_ABS_DIFF})")
    return True, f"agrees with the float model (mask agreement {mask_agreement:.4f}, mean |dp| {mean_abs_diff:.4f})"


# Instance models without real masks: the artifact's instances scored against the float
# model's (PQ with the float model's objects as truth) must reach this.
MIN_INSTANCE_AGREEMENT = 0.9


def check_instance_agreement(agreement_pq: float | None) -> tuple[bool, str]:
    """(ok, reason) for an instance artifact from its PQ against the float model's instances."""
    if agreement_pq is None:
        return True, "instance agreement not measured"
    if agreement_pq < MIN_INSTANCE_AGREEMENT:
        return False, (f"its instances differ from the float model's (PQ against them {agreement_pq:.4f} < "
                       f"{MIN_INSTANCE_AGREEMENT})")
    return True, f"its instances agree with the float model's (PQ against them {agreement_pq:.4f})"


def scores_agree(scores: dict) -> bool:
    """For the guard: do these verification scores agree with the reference?"""
    return check_agreement(scores.get("mask_agreement"), scores.get("mean_abs_diff"))[0]
