"""How long `edgeseg train` runs and when it stops, counted in optimizer steps, not epochs.

With a few dozen images an epoch is 3 or 4 steps, so patience in epochs stopped runs after ~30
steps, long before the model had learned (issue 24: PQ 0.435 at the default patience, 0.693
with --patience 40). Here every length is a step count: the budget is the smaller of --epochs
(a cap on passes over the data) and --max-steps; patience is --patience epochs in steps but
never under a floor; the learning rate warms up linearly and decays on a cosine to the
budget's end (learning_rate_at, shared with fine-tuning); and the stop is decided on the median
of the last few validation scores, so one lucky or unlucky evaluation neither resets nor ends the wait."""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass


def learning_rate_at(step: int, peak: float, total_steps: int, warmup_fraction: float = 0.05) -> float:
    """Linear warm-up to `peak`, then cosine decay to zero at `total_steps` (step counts from 0)."""
    warmup = max(1, int(round(total_steps * warmup_fraction)))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return 0.5 * peak * (1.0 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class StepPlan:
    """One run's lengths in optimizer steps, made from the config and the data's size."""

    steps_per_epoch: int
    total_steps: int  # the budget: the learning rate reaches zero here and the run ends
    patience_steps: int  # steps without a better smoothed score before the run stops
    eval_every: int  # steps between validations
    smooth: int  # the stop watches the median of this many latest validation scores
    warmup_fraction: float
    peak_lr: float

    @property
    def epochs(self) -> int:
        """Passes over the data that cover the budget (the last one may end early)."""
        return math.ceil(self.total_steps / self.steps_per_epoch)

    def learning_rate(self, step: int) -> float:
        return learning_rate_at(step, self.peak_lr, self.total_steps, self.warmup_fraction)

    def describe(self) -> str:
        return (f"budget {self.total_steps} optimizer steps ({self.steps_per_epoch} per epoch, at most "
                f"{self.epochs} epochs); validation every {self.eval_every} steps; stops after "
                f"{self.patience_steps} steps without a better median of the last {self.smooth} scores")


def plan_steps(config, steps_per_epoch: int) -> StepPlan:
    """`config`: a TrainConfig. Patience is --patience epochs in steps, at least
    --min-patience-steps, and never more than the budget (then it simply runs to the end)."""
    spe = max(1, int(steps_per_epoch))
    total = max(1, min(config.epochs * spe, config.max_steps))
    patience = min(total, max(config.patience * spe, config.min_patience_steps))
    every = max(1, min(spe, config.eval_every))
    return StepPlan(spe, total, patience, every, config.smooth, config.warmup_fraction, config.learning_rate)


class SmoothedStop:
    """Decides, one validation score at a time, when to stop: the median of the last `smooth`
    scores has not improved for `patience_steps` steps."""

    def __init__(self, patience_steps: int, smooth: int):
        self.patience_steps, self.smooth = patience_steps, max(1, smooth)
        self.scores: list[float] = []
        self.best_smoothed, self.best_smoothed_step = -math.inf, 0

    def update(self, step: int, score: float) -> float:
        """Records a score taken after `step` steps; returns the smoothed score."""
        self.scores.append(float(score))
        smoothed = statistics.median(self.scores[-self.smooth:])
        if smoothed > self.best_smoothed:
            self.best_smoothed, self.best_smoothed_step = smoothed, step
        return smoothed

    def should_stop(self, step: int) -> bool:
        return step - self.best_smoothed_step >= self.patience_steps


__all__ = ["SmoothedStop", "StepPlan", "plan_steps"]
