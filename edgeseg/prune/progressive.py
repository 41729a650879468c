"""How much recovery a channel-pruned model gets: a step budget that grows with the share of
filters removed. `--finetune-steps` is sized for removing half of them; a model that lost more
has more to win back. On the hand-annotated DSB tiles, at 87.5% removed, 300 steps recovered
0.959x of float Dice, 525 (this scale) 0.976x and 600 0.983x, where distillation from the float
model (outputs, block outputs) and remove-then-recover rounds at equal steps gained at most
+0.001x or lost (benchmarks/recovery.py, RESULTS.md, issue 23). A model back within its target
stops as soon as before, and one that cannot reach it gives up past half its budget (finetune's
EarlyStop), so the extra steps are spent only where recovery is short but still gaining."""
from __future__ import annotations

from dataclasses import replace

from ..training.finetune import FinetuneBudget

REFERENCE_RATIO = 0.5  # the share removed that --finetune-steps is sized for


def step_scale(ratio: float, most: float) -> float:
    """The multiplier of the step budget for removing `ratio` of the filters: ratio / 0.5, at
    least 1 and at most `most` (--finetune-scale; 1 keeps the budget fixed)."""
    return min(most, max(1.0, ratio / REFERENCE_RATIO))


def scaled_budget(budget: FinetuneBudget, ratio: float, most: float) -> FinetuneBudget:
    """`budget` with its maximum (steps and seconds) scaled by step_scale; the floor and the
    early stop are kept."""
    scale = step_scale(ratio, most)
    seconds = None if budget.max_seconds is None else budget.max_seconds * scale
    return replace(budget, max_steps=max(budget.min_steps, round(budget.max_steps * scale)), max_seconds=seconds)


__all__ = ["REFERENCE_RATIO", "scaled_budget", "step_scale"]
