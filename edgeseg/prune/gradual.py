"""Channel pruning in rounds: remove some filters, recover, remove more. Each round removes
the same share of what is left, so that after `rounds` rounds the model keeps (1 - ratio) of
its filters, and gets an equal share of the fine-tuning budget. Nested models are flattened
first (flatten.py); BatchNorm statistics are re-estimated after each removal and before each
validation (batchnorm.py), whatever momentum the user's model carries."""
from __future__ import annotations

from dataclasses import replace

from ..training.finetune import FinetuneBudget, FinetuneResult, finetune
from ..training.task_training import TaskTraining
from .batchnorm import ReestimateBeforeValidation, image_batches, reestimate_batchnorm
from .channels import ChannelPruneResult, prune_channels
from .distill_features import feature_recovery
from .flatten import flatten_model
from .progressive import scaled_budget
from .ranking import measured_scores


def round_ratios(ratio: float, rounds: int) -> list[float]:
    """Per-round removal shares (of the filters left) whose product keeps 1 - ratio."""
    keep = (1.0 - ratio) ** (1.0 / rounds)
    return [1.0 - keep] * rounds


def round_budget(budget: FinetuneBudget, rounds: int) -> FinetuneBudget:
    return replace(budget, max_steps=max(1, budget.max_steps // rounds), min_steps=budget.min_steps // rounds,
                   max_seconds=None if budget.max_seconds is None else budget.max_seconds / rounds)


def merged_result(results: list[FinetuneResult]) -> FinetuneResult:
    """One record of all rounds: steps summed, the Dice curve on the overall step count."""
    merged, offset = FinetuneResult(0), 0
    for r in results:
        merged.dice_curve += [(offset + step, dice) for step, dice in r.dice_curve]
        offset += r.steps
        merged.seconds += r.seconds
    last = results[-1]
    merged.steps, merged.best_dice, merged.stopped_because = offset, last.best_dice, last.stopped_because
    merged.metric = last.metric
    merged.best_step = offset - last.steps + last.best_step
    return merged


def prune_in_rounds(model, train, val, ratio: float, budget: FinetuneBudget, batch_size: int, classes: int,
                    target_dice: float | None = None, seed: int = 0, verbose: int = 1, log=print, rounds: int = 1,
                    criterion: str = "taylor", task: TaskTraining | None = None, batchnorm: bool = True,
                    counts: dict[str, int] | None = None, features: float = 0.0, step_scale: float = 1.0,
                    **distill) -> ChannelPruneResult:
    """`task` (task_training.py) gives the ranking's and fine-tuning's loss, targets and score;
    `batchnorm` False keeps the statistics the fine-tuning momentum leaves (for comparison).
    `counts` (space -> kept filters, per_layer.choose_counts) replaces the uniform ratio, in one round;
    `features` > 0 adds the teacher's block outputs to the distillation (distill_features.py);
    `step_scale` > 1 lets the step budget grow with `ratio` up to that multiple (progressive.py)."""
    current, originals, tuned, share_of_macs = flatten_model(model), None, [], None
    rounds = 1 if counts is not None else rounds
    scaled = scaled_budget(budget, ratio, step_scale)
    if scaled.max_steps != budget.max_steps and verbose:
        log(f"      step budget {scaled.max_steps} ({scaled.max_steps / budget.max_steps:.2f}x for {ratio:.0%} "
            "removed)")
    budget = scaled
    for n, share in enumerate(round_ratios(ratio, rounds)):
        if rounds > 1 and verbose:
            log(f"      round {n + 1}/{rounds}: removing {share:.0%} of the remaining filters")
        result = prune_channels(current, share, measured_scores(criterion, current, train, classes, batch_size, task),
                                counts=counts)
        originals = originals or {name: before for name, (_, before) in result.kept.items()}
        share_of_macs = result.prunable_macs if share_of_macs is None else share_of_macs
        hooks = ()
        if batchnorm:
            reestimate_batchnorm(result.model, image_batches(train, batch_size))
            hooks = (ReestimateBeforeValidation(train, batch_size),)
        tuned.append(finetune(result.model, train, val, round_budget(budget, rounds), classes, batch_size,
                              target_dice if n == rounds - 1 else None, seed + n, verbose, step_hooks=hooks, log=log,
                              task=task, recovery_loss=feature_recovery(result.model, features, train, batch_size,
                                                                        distill.get("teacher")),
                              **distill))
        current = result.model
    kept = {name: (after, originals[name]) for name, (after, _) in result.kept.items()}
    frozen = sorted(name for name, (after, before) in kept.items() if after == before)
    return ChannelPruneResult(current, ratio, kept, frozen, merged_result(tuned), share_of_macs)


def prune_channels_and_finetune(model, train, val, ratio: float, budget, batch_size: int, classes: int,
                                target_dice: float | None = None, seed: int = 0, verbose: int = 1, log=print,
                                rounds: int = 1, criterion: str = "taylor", task: TaskTraining | None = None,
                                batchnorm: bool = True, counts: dict[str, int] | None = None,
                                features: float = 0.0, step_scale: float = 1.0,
                                **distill) -> ChannelPruneResult:
    """prune_channels, then `finetune` to win back what the removed filters carried; in
    `rounds` remove-then-recover rounds, ranking filters by `criterion` (or to per-space `counts`)."""
    return prune_in_rounds(model, train, val, ratio, budget, batch_size, classes, target_dice, seed, verbose, log,
                           rounds, criterion, task, batchnorm, counts, features, step_scale, **distill)
