"""Fine-tuning sized by what it must achieve, in optimizer steps, not epochs.

Pruning, channel pruning and QAT all recover through `finetune`. With a few dozen images an
epoch is a handful of steps, so budgets in epochs silently did almost nothing (2 epochs of 35
images at batch 8 = 10 steps). Here the budget is a step count with a floor independent of the
dataset's size; the learning rate warms up, then decays to zero on a cosine; augmentation is
on; validation Dice is measured every `eval_every` steps, and the run stops early once the
model is within its target and has stopped improving. The best weights seen are kept."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

from ..data.dataset import SegmentationData
from .schedule import learning_rate_at  # shared with training; re-exported
from .task_training import TaskTraining, semantic_training


@dataclass(frozen=True)
class FinetuneBudget:
    """How long fine-tuning may run, and when it may stop early."""

    max_steps: int = 300
    min_steps: int = 100  # never stop before this (and before any pruning ramp has ended)
    max_seconds: float | None = None
    learning_rate: float = 5e-4
    warmup_fraction: float = 0.05
    eval_every: int = 25
    patience: int = 2  # evaluations without a better Dice, once within the target
    # give up a run that cannot reach its target (EarlyStop's hopeless rule): only where its steps are
    # taken from other candidates (--prune auto's study); an explicit ratio spends the user's budget
    give_up_hopeless: bool = False

    def __post_init__(self) -> None:
        if self.max_steps < 1 or not 0 <= self.min_steps <= self.max_steps:
            raise ValueError(f"need 0 <= min_steps <= max_steps and max_steps >= 1, got {self}")
        if self.eval_every < 1 or self.patience < 1 or self.learning_rate <= 0:
            raise ValueError(f"eval_every, patience and learning_rate must be > 0, got {self}")


@dataclass
class FinetuneResult:
    steps: int
    dice_curve: list[tuple[int, float]] = field(default_factory=list)  # (step, validation score; see metric)
    best_step: int = 0
    best_dice: float = float("nan")
    stopped_because: str = ""
    seconds: float = 0.0
    metric: str = "dice"  # the validation score in dice_curve/best_dice: "pq" for instance models

    def to_dict(self) -> dict:
        kept = math.isfinite(self.best_dice)  # no evaluation counted (e.g. timed out mid-ramp): JSON has no -inf
        return {"steps": self.steps, "best_step": self.best_step if kept else None,
                "best_dice": self.best_dice if kept else None,
                "stopped_because": self.stopped_because, "seconds": round(self.seconds, 1),
                "dice_curve": [[s, d] for s, d in self.dice_curve], "metric": self.metric}


# When a run below its target is given up (EarlyStop.hopeless), as data. Validated offline on
# the recorded recovery curves (`benchmarks/recovery.py --replay`, RESULTS.md issue 23 item 3):
# it never stopped a run that ended within its target.
HOPELESS_AFTER_SHARE = 0.5  # never before this share of max_steps (nor before min_steps / a ramp's end)
HOPELESS_WINDOW = 4  # evaluations whose least-squares slope (or that of twice as many, if higher) is the recent rate
HOPELESS_OPTIMISM = 2.0  # that rate, doubled, is assumed for every step left (the cosine lr only slows it)
HOPELESS_CONFIRM = 2  # evaluations in a row the projection must stay short


class EarlyStop:
    """Decides, one validation Dice at a time, whether fine-tuning has done its job:
    within `target` (when given) and no better Dice for `patience` evaluations, after `min_steps`;
    or, knowing `max_steps`, whether it is hopeless: past HOPELESS_AFTER_SHARE of the budget, the
    best Dice plus the recent rate of gain (x HOPELESS_OPTIMISM) over the steps left stays below
    the target for HOPELESS_CONFIRM evaluations. A run that has reached its target is never hopeless."""

    def __init__(self, target: float | None, min_steps: int, patience: int, max_steps: int | None = None):
        self.target, self.min_steps, self.patience, self.max_steps = target, min_steps, patience, max_steps
        self.best, self.best_step, self.stale = -math.inf, 0, 0
        self.curve: list[tuple[int, float]] = []
        self.short = 0  # evaluations in a row whose projection missed the target
        self.projection = math.nan

    def update(self, step: int, dice: float) -> bool:
        """Records a Dice; True means the best so far (the caller keeps those weights)."""
        improved = dice > self.best
        if improved:
            self.best, self.best_step, self.stale = dice, step, 0
        else:
            self.stale += 1
        self.curve.append((step, dice))
        self._project(step)
        return improved

    def _project(self, step: int) -> None:
        if self.target is None or self.max_steps is None or len(self.curve) < HOPELESS_WINDOW:
            self.projection, self.short = math.nan, 0
            return
        # the longer window too: a dip while the learning rate is still high reads as no gain over
        # the last few evaluations only (the review's case), not over twice as many
        rate = max(0.0, recent_rate(self.curve[-HOPELESS_WINDOW:]), recent_rate(self.curve[-2 * HOPELESS_WINDOW:]))
        self.projection = self.best + HOPELESS_OPTIMISM * rate * max(0, self.max_steps - step)
        self.short = self.short + 1 if self.projection < self.target else 0

    def should_stop(self, step: int) -> bool:
        return self.why_stop(step) is not None

    def why_stop(self, step: int) -> str | None:
        """"within" (done), "hopeless" (cannot reach the target in the steps left), or None."""
        if self.target is None or step < self.min_steps:
            return None
        if self.best >= self.target:
            return "within" if self.stale >= self.patience else None
        return "hopeless" if self.hopeless(step) else None

    def hopeless(self, step: int) -> bool:
        return (self.max_steps is not None and step >= HOPELESS_AFTER_SHARE * self.max_steps
                and step < self.max_steps and self.short >= HOPELESS_CONFIRM)


def recent_rate(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of (step, Dice): Dice gained per step, robust to one noisy evaluation."""
    n = len(points)
    mean_x = sum(s for s, _ in points) / n
    mean_y = sum(d for _, d in points) / n
    spread = sum((s - mean_x) ** 2 for s, _ in points)
    return 0.0 if spread == 0 else sum((s - mean_x) * (d - mean_y) for s, d in points) / spread


def segmentation_batches(train: SegmentationData, batch_size: int, seed: int, targets=None):
    """An endless iterator of augmented (images, targets) batches, reshuffled every pass;
    `targets` turns label maps into training targets (default: the labels as one channel)."""
    from .loop import batch_sequence

    batches = batch_sequence(train, batch_size, augment=True, seed=seed, targets=targets)
    while True:
        for i in range(len(batches)):
            yield batches[i]
        batches.on_epoch_end()


def finetune(model, train: SegmentationData, val: SegmentationData, budget: FinetuneBudget, classes: int,
             batch_size: int, target_dice: float | None = None, seed: int = 0, verbose: int = 1,
             step_hooks: tuple = (), keep_from_step: int = 0, teacher=None, distill_weight: float = 0.0,
             unlabeled: Callable[[], object] | None = None, log: Callable[[str], None] = print,
             task: TaskTraining | None = None, recovery_loss=None) -> FinetuneResult:
    """Trains `model` in place for at most budget.max_steps optimizer steps and leaves it with
    the weights of its best validation score: Dice, or the score `task` (task_training.py) names
    (PQ for instance models), trained with its loss and targets; target_dice is on that score.
    A Keras 3 model is trained with Keras 3's optimizer, a tf_keras one with tf_keras'.
    `step_hooks` are tf_keras callbacks that need batch events (tfmot's UpdatePruningStep);
    evaluations before `keep_from_step` (a pruning ramp still under way) are logged but never
    kept. With a `teacher` and distill_weight > 0 the loss mixes the task loss with a loss to the teacher's probabilities (see distill.py)."""
    from ..backend import tf
    from ..models.keras3 import keras_module
    from .distill import training_loss
    from ..scoring.predictors import keras_predictor

    tf_ = tf()
    task = task or semantic_training(classes)
    loss_fn = (recovery_loss.make_loss if recovery_loss else training_loss)(classes, teacher, distill_weight, task)
    extra_variables = list(recovery_loss.variables) if recovery_loss else []
    optimizer = keras_module(model).optimizers.Adam(budget.learning_rate)  # the model's own Keras' optimizer
    hooks = list(step_hooks)
    for hook in hooks:
        hook.set_model(model)
        hook.on_train_begin()

    @tf_.function(reduce_retracing=True)
    def train_step(images, labels, extra=None):
        with tf_.GradientTape() as tape:
            loss = loss_fn(model, images, labels, extra)
        variables = model.trainable_variables + extra_variables
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables))
        return loss

    stop = EarlyStop(target_dice, max(budget.min_steps, keep_from_step), budget.patience,
                     budget.max_steps if budget.give_up_hopeless and task.gives_up_hopeless else None)
    result, best_weights, start = FinetuneResult(0, metric=task.score_name), None, time.perf_counter()
    batches, extras = segmentation_batches(train, batch_size, seed, task.targets), unlabeled() if unlabeled else None
    stopped = f"reached the maximum of {budget.max_steps} steps"
    for step in range(budget.max_steps):
        images, labels = next(batches)
        extra = None if extras is None else tf_.constant(next(extras))
        optimizer.learning_rate.assign(learning_rate_at(step, budget.learning_rate, budget.max_steps,
                                                        budget.warmup_fraction))
        for hook in hooks:
            hook.on_train_batch_begin(batch=step)
        loss = float(train_step(tf_.constant(images), tf_.constant(labels), extra))
        result.steps = step + 1
        last = result.steps == budget.max_steps
        timed_out = budget.max_seconds is not None and time.perf_counter() - start > budget.max_seconds
        if result.steps % budget.eval_every and not (last or timed_out):
            continue
        for hook in hooks:  # tfmot applies the masks at epoch end: do it before measuring
            hook.on_epoch_end(step)
        score = task.score(keras_predictor(model, batch_size), val, batch_size)
        result.dice_curve.append((result.steps, score))  # the curve of task.score_name (result.metric)
        if result.steps >= keep_from_step and stop.update(result.steps, score):
            best_weights = model.get_weights()
        if verbose:
            log(f"      step {result.steps}/{budget.max_steps}: loss {loss:.4f}, val {task.score_label} {score:.4f}, "
                f"lr {float(optimizer.learning_rate.numpy()):.2e}")
        why = stop.why_stop(result.steps)
        if why:
            stopped = stop_reason(why, stop, task.score_label, budget)
            break
        if timed_out:
            stopped = f"reached the time budget of {budget.max_seconds:.0f} s"
            break
    if best_weights is not None:
        model.set_weights(best_weights)
    result.best_step, result.best_dice = stop.best_step, stop.best
    result.stopped_because, result.seconds = stopped, time.perf_counter() - start
    return result


def stop_reason(why: str, stop: EarlyStop, label: str, budget: FinetuneBudget) -> str:
    if why == "within":
        return f"within the target {label} {stop.target:.4f} and no better for {budget.patience} evaluations"
    return (f"hopeless: best {label} {stop.best:.4f}, at most {stop.projection:.4f} by step {budget.max_steps} "
            f"at the recent rate, below the recovery target {stop.target:.4f}")


__all__ = ["EarlyStop", "HOPELESS_AFTER_SHARE", "HOPELESS_CONFIRM", "HOPELESS_OPTIMISM", "HOPELESS_WINDOW",
           "recent_rate", "stop_reason", "FinetuneBudget", "FinetuneResult", "finetune", "learning_rate_at"]
