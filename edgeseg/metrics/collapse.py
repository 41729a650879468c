"""Has a sigmoid output collapsed onto its threshold? Pure numpy, streamed batch by batch.

A pruned model can keep a plausible Dice while its output has lost all confidence: an attention
U-Net pruned by half answered at most 0.5006 everywhere; int8 has a level at exactly 0.5, so
counted with `p >= 0.5` its artifact "scored" Dice 0.94 and counted with `p > 0.5` it scored 0.
Dice cannot see this; these facts can:
- the share of pixels within one int8 step (1/256) of the threshold (a healthy model pushes
  almost every pixel far from it);
- the probability margin on each side: how far the highest probability rises above the
  threshold and the lowest falls below it (a collapsed model reaches the threshold and stops);
- whether `p > t` and `p >= t` give the same foreground (they differ only by pixels sitting
  exactly on the threshold, which a healthy model almost never produces).
Multi-class (softmax) outputs have no threshold: they yield no facts."""
from __future__ import annotations

import numpy as np

INT8_STEP = 1.0 / 256
# "Most pixels": above this share within one int8 step of the threshold, the output has collapsed.
MAX_NEAR_SHARE = 0.5
# A side whose extreme probability reaches the threshold but stays within this of it has no margin.
MIN_MARGIN = 0.02
# The two threshold rules must find (Dice between the masks) at least this much of the same foreground.
MIN_RULE_AGREEMENT = 0.9
PREFIX = "collapse_"


class CollapseAccumulator:
    def __init__(self, threshold: float = 0.5, step: float = INT8_STEP):
        self.threshold, self.step = threshold, step
        self.pixels = self.near = self.above = self.at_or_above = 0
        self.low, self.high = np.inf, -np.inf
        self.multiclass = False

    def update(self, probs: np.ndarray) -> None:
        probs = np.asarray(probs, np.float64)
        if probs.shape[-1] != 1:
            self.multiclass = True
            return
        self.pixels += probs.size
        self.near += int((np.abs(probs - self.threshold) <= self.step).sum())
        self.above += int((probs > self.threshold).sum())
        self.at_or_above += int((probs >= self.threshold).sum())
        self.low, self.high = min(self.low, float(probs.min())), max(self.high, float(probs.max()))

    def result(self) -> dict:
        if self.multiclass or not self.pixels:
            return {}
        total = self.above + self.at_or_above  # the `>` mask is a subset of the `>=` mask
        return {PREFIX + "threshold": self.threshold,
                PREFIX + "near_share": self.near / self.pixels,
                PREFIX + "max_prob": self.high, PREFIX + "min_prob": self.low,
                PREFIX + "rule_agreement": 2 * self.above / total if total else 1.0}


def collapse_facts(probs: np.ndarray, threshold: float = 0.5) -> dict:
    accumulator = CollapseAccumulator(threshold)
    accumulator.update(probs)
    return accumulator.result()


def _no_margin(extreme: float, threshold: float, sign: int) -> bool:
    """The extreme probability on one side reaches the threshold (to within a step) and stays within MIN_MARGIN."""
    beyond = sign * (extreme - threshold)
    return -INT8_STEP <= beyond < MIN_MARGIN


def collapse_reason(facts: dict) -> str | None:
    """Why the output these facts describe has collapsed, or None when it has not (or was not measured)."""
    if PREFIX + "near_share" not in facts:
        return None
    t = facts[PREFIX + "threshold"]
    near, high, low = facts[PREFIX + "near_share"], facts[PREFIX + "max_prob"], facts[PREFIX + "min_prob"]
    if near > MAX_NEAR_SHARE:
        return f"collapsed: {near:.0%} of pixels within one int8 step of {t:g}"
    if _no_margin(high, t, +1):
        return f"collapsed: the probability margin is gone (no pixel above {high:.4f}, threshold {t:g})"
    if _no_margin(low, t, -1):
        return f"collapsed: the probability margin is gone (no pixel below {low:.4f}, threshold {t:g})"
    agreement = facts[PREFIX + "rule_agreement"]
    if agreement < MIN_RULE_AGREEMENT:
        return (f"collapsed: its foreground depends on pixels exactly at {t:g} (p > {t:g} and p >= {t:g} "
                f"masks agree only {agreement:.4f})")
    return None


__all__ = ["CollapseAccumulator", "INT8_STEP", "collapse_facts", "collapse_reason"]
