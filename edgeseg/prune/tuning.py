"""How compress fine-tunes: the step budgets, the Dice it aims for, and whether the data is
enough for fine-tuning to mean anything. Kept apart from the pipeline so that every
fine-tuning step (pruning, channel pruning, QAT) reads the same policy.

The default, with no pruning flag, is post-training quantization only. Pruning needs
minutes of fine-tuning that can end in an artifact the guard rejects, and magnitude pruning
buys only a smaller gzip, not speed; int8 PTQ alone costs seconds and met the budget on every
benchmark here. Speed is opt-in and bounded: --prune auto (never exports a candidate that
misses the budget) or --prune channels. See benchmarks/RESULTS.md, issue 13."""
from __future__ import annotations

from ..config import CompressConfig
from ..training.finetune import FinetuneBudget, FinetuneResult

# Early stop aims at the float Dice minus this share of the budget: int8 conversion still
# costs a little Dice after fine-tuning, and it must fit in what is left.
QUANTIZATION_RESERVE = 0.5
# Below these, a validation Dice is noise and training memorizes: fine-tuning would only
# hurt a model the user trusts, so pruning is skipped with a message instead.
MIN_TRAIN_IMAGES = 8
MIN_VAL_IMAGES = 2
QAT_LEARNING_RATE = 1e-4


def pruning_budget(config: CompressConfig, search: bool = False) -> FinetuneBudget:
    """`search`: a --prune auto candidate, whose fine-tuning gives up once it cannot reach its target
    (the study's time is shared by its candidates); otherwise the user's budget is spent."""
    return FinetuneBudget(max_steps=config.finetune_steps, min_steps=config.finetune_min_steps,
                          max_seconds=config.finetune_time, learning_rate=config.finetune_lr,
                          give_up_hopeless=search)


def qat_budget(config: CompressConfig) -> FinetuneBudget:
    return FinetuneBudget(max_steps=config.qat_steps, min_steps=min(config.qat_steps, config.finetune_min_steps),
                          max_seconds=config.finetune_time, learning_rate=QAT_LEARNING_RATE)


def recovery_target(base_dice: float, budget: float) -> float:
    """The validation Dice at which fine-tuning may stop early."""
    return base_dice - budget * QUANTIZATION_RESERVE


def too_little_data(train_images: int, val_images: int) -> str | None:
    """Why fine-tuning would not be meaningful on this data, or None when it is."""
    if train_images < MIN_TRAIN_IMAGES:
        return f"only {train_images} training images (fine-tuning needs at least {MIN_TRAIN_IMAGES})"
    if val_images < MIN_VAL_IMAGES:
        return f"only {val_images} validation image(s) (early stopping needs at least {MIN_VAL_IMAGES})"
    return None


def finetune_info(result: FinetuneResult | None) -> dict | None:
    """The report.json record of one fine-tuning run (steps, Dice curve, why it stopped)."""
    return None if result is None else result.to_dict()


def distill_kwargs(config: CompressConfig, teacher, unlabeled) -> dict:
    """The recovery's keyword arguments beyond the budget: distillation (none when it is off) and,
    for channel pruning only, the step budget's growth with the share removed (prune/progressive.py).
    Block-output distillation (prune/distill_features.py) is not offered: on hand-drawn masks it
    recovered less than plain fine-tuning at equal steps (benchmarks/recovery.py, RESULTS.md)."""
    channels = config.prune in ("channels", "auto")
    scale = {"step_scale": config.finetune_scale} if channels and config.finetune_scale > 1 else {}
    if config.distill <= 0:
        return scale
    return {"teacher": teacher, "distill_weight": config.distill, "unlabeled": unlabeled} | scale
