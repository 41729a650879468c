"""The accuracy budget: the one place that decides whether an artifact may ship, and the one
wording of every reason it may not.

The rules, in order: nothing ships against a float baseline that failed its sanity check;
without real masks (judged_by_dice False) the Dice means nothing, so agreement with the float
model decides alone; otherwise the Dice must stay within `max_drop` of the baseline (and a
pruned source that already lost it is named as the cause); an artifact must agree with the
float model it was made from (a Dice that rose is no better than one that fell); a pruned
artifact must carry the sparsity it was pruned to.

The budget is on one score: Dice for semantic models, PQ for instance models (`metric`),
since Dice can stay near 1 while touching objects merge. When an artifact's decoding was re-tuned
on the very images that score it, its held-out score (`METRIC_held_out`, cross-fitted: see
edgeseg/instances/cross_fit.py) decides instead of the in-sample one; present but None (too few
images to hold any out) it is "not measured", never replaced by the optimistic in-sample score.

compress's guard and verdicts, the Edge TPU step (an artifact that could not run where it ships
is not deployable), the --prune auto search (its candidates and its early stop) and bench (the
floor it draws, built from a compress report) all ask this one class."""
from __future__ import annotations

from dataclasses import dataclass

from ..scoring.verify import ORIGINAL_MAX_MEAN_ABS_DIFF, original_problem
from .sanity import MIN_MASK_AGREEMENT, check_agreement, check_instance_agreement

SPARSITY_TOLERANCE = 0.01
# metric -> how reasons name it
METRIC_LABELS = {"dice": "Dice", "pq": "PQ"}
# The suffix of a score measured on images its decoding was not tuned on.
HELD_OUT = "_held_out"


@dataclass(frozen=True)
class Budget:
    baseline: float
    max_drop: float
    baseline_problem: str | None = None  # set when the float baseline failed its sanity check
    judged_by_dice: bool = True  # False when there are no real masks to measure Dice on
    metric: str = "dice"  # the score the budget is on: "dice", or "pq" for instance models

    @property
    def label(self) -> str:
        return METRIC_LABELS[self.metric]

    def deciding_key(self, scores: dict) -> str:
        """The score that decides for these verification scores: the held-out one when the
        artifact's decoding was tuned on the scoring images (its key is then present)."""
        held_out = self.metric + HELD_OUT
        return held_out if held_out in scores else self.metric

    def value(self, scores: dict) -> float | None:
        """The budget's score among an artifact's verification scores (the one that decides)."""
        return scores.get(self.deciding_key(scores))

    def label_of(self, scores: dict) -> str:
        """How reasons name the deciding score: "PQ", or "held-out PQ"."""
        return ("held-out " if self.deciding_key(scores) != self.metric else "") + self.label

    @property
    def floor(self) -> float:
        return self.baseline - self.max_drop

    def admits(self, dice: float | None) -> bool:
        """Whether a Dice is within the budget (always, when Dice is not what judges)."""
        if self.baseline_problem is not None:
            return False
        return not self.judged_by_dice or (dice is not None and dice >= self.floor)

    def accepts(self, scores: dict) -> bool:
        """For the guard: Dice within the budget and agreement with the float model."""
        return self.judge(scores)[0]

    def miss(self, dice: float | None, tried: tuple[str, ...] = (), label: str | None = None) -> str:
        """Why `dice` is outside the budget."""
        if dice is None:
            return f"{label} not measured" if label else "not measured"
        after = f" after trying {', '.join(tried)}" if tried else ""
        return (f"{label or self.label} {dice:.4f} is below the floor {self.floor:.4f} "
                f"(baseline {self.baseline:.4f} - budget {self.max_drop}){after}")

    def source_miss(self, label: str, dice: float, fix: str) -> str:
        """Why a pruned source's artifacts cannot ship: quantization cannot win back what pruning lost."""
        return (f"{label} alone dropped {self.label} to {dice:.4f} (baseline {self.baseline:.4f}, "
                f"budget {self.max_drop}); "
                f"fine-tune longer or {fix}")

    def beyond_recovery(self, score: float | None, margin: float) -> str | None:
        """Why a float model is not worth quantizing (its score is more than `margin` below the
        floor, and int8 only loses), or None while it may still make it."""
        if score is None or score >= self.floor - margin:
            return None
        return f"float {self.label} {score:.4f} after recovery, far below the floor {self.floor:.4f}"

    def judge(self, scores: dict, *, method: str | None = None, tried: tuple[str, ...] = (),
              source_label: str | None = None, source_dice: float | None = None, source_fix: str = "",
              sparsity: float | None = None, target_sparsity: float | None = None,
              unverified: str | None = None) -> tuple[bool, str]:
        """(deployable, reason) for one artifact from its verification scores, every rule in one place.
        `unverified`: why the artifact could not run in the runtime it ships for (it has no scores)."""
        if unverified is not None:
            return False, f"compiled, not verified: {unverified}"
        if self.baseline_problem is not None:
            return False, f"the float baseline failed its sanity check: {self.baseline_problem}"
        # a collapsed output, or one that leaves the user's original model, never ships (issue 24)
        refused = original_problem(scores, MIN_MASK_AGREEMENT, ORIGINAL_MAX_MEAN_ABS_DIFF)
        if refused:
            return False, refused
        dice = self.value(scores)
        if not self.admits(dice):
            if source_label and source_dice is not None and not self.admits(source_dice):
                return False, self.source_miss(source_label, source_dice, source_fix)
            return False, self.miss(dice, tried, self.label_of(scores))
        agrees, why = check_agreement(scores.get("mask_agreement"), scores.get("mean_abs_diff"))
        if not agrees:
            return False, why
        if self.metric == "pq" and not self.judged_by_dice:  # no real masks: the float model's objects decide
            agrees, why = check_instance_agreement(scores.get("agreement_pq"))
            if not agrees:
                return False, why
        if target_sparsity is not None and sparsity is not None:
            gap = abs(sparsity - target_sparsity)
            if gap > SPARSITY_TOLERANCE:
                return False, f"measured sparsity {sparsity:.4f} is {gap:.4f} from the target {target_sparsity}"
        within = f"within budget with {method}" if method else "within budget"
        return True, within if self.judged_by_dice else f"{why}; not measured against real masks"


def report_budget(report, metric: str, drop_field: str, applied_section: str | None = None) -> Budget | None:
    """The budget a compress report (a CompressReport) applied on `metric`: its baseline score, and
    the allowed drop compress recorded (under `applied_section`, where it resolved a default) or was
    configured with; None where the report lacks either (an instance report may carry no PQ budget)."""
    value = getattr(report.baseline, metric, None)
    applied = getattr(report, applied_section, None) if applied_section else None
    allowed = getattr(applied, drop_field, None)
    if allowed is None:
        allowed = getattr(report.config, drop_field, None)
    if not isinstance(value, (int, float)) or not isinstance(allowed, (int, float)):
        return None
    problem = None if report.sanity is None or report.sanity.ok else report.sanity.message
    return Budget(value, allowed, problem, report.data_origin != "none", metric)
