"""Magnitude pruning with tfmot, on a copy: the caller's model is never changed."""
from __future__ import annotations

from dataclasses import dataclass

from ..backend import keras, tfmot
from ..data.dataset import SegmentationData
from ..training.finetune import FinetuneBudget, FinetuneResult, finetune
from ..training.task_training import TaskTraining

PRUNABLE_KERNELS = {"Conv2D": "kernel", "Conv2DTranspose": "kernel", "Dense": "kernel",
                    "SeparableConv2D": "pointwise_kernel", "DepthwiseConv2D": "depthwise_kernel"}


def copy_model(model):
    """A structurally identical model with copied weights (clone_model alone re-initializes)."""
    clone = keras().models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def kernel_sparsity(model) -> float:
    """Share of exactly-zero weights over all prunable kernels, weighted by size."""
    zeros = total = 0
    for layer in _flat_layers(model):
        attr = PRUNABLE_KERNELS.get(type(layer).__name__)
        if attr and hasattr(layer, attr):
            w = getattr(layer, attr).numpy()
            zeros += int((w == 0).sum())
            total += w.size
    return zeros / total if total else 0.0


def _flat_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers"):
            yield from _flat_layers(layer)
        else:
            yield layer


def ramp_steps(total_steps: int) -> tuple[int, int]:
    """(end_step, frequency) of a sparsity ramp that ends at about 60% of `total_steps` in
    ten mask updates, leaving the rest to recover at the final sparsity."""
    ramp = min(int(total_steps * 0.6), total_steps - 1)
    frequency = max(1, ramp // 10)
    return (ramp // frequency) * frequency, frequency


def pruning_schedule(target: float, total_steps: int):
    """PolynomialDecay whose last mask update lands inside the fine-tuning run.

    The default frequency of 100 steps silently prunes nothing on short runs, so the
    frequency and end step are derived from the number of steps the ramp may use."""
    sparsity = tfmot().sparsity.keras
    end_step, frequency = ramp_steps(total_steps)
    if end_step <= 0:
        return sparsity.ConstantSparsity(target, begin_step=0, frequency=1)
    return sparsity.PolynomialDecay(initial_sparsity=0.0, final_sparsity=target, begin_step=0,
                                    end_step=end_step, frequency=frequency)


@dataclass
class PruneResult:
    model: object  # stripped tf_keras model
    target: float
    sparsity: float
    steps: int
    kept_dense: list[str]
    finetune: FinetuneResult | None = None


def output_layers(model) -> set[str]:
    """The layers whose tensors are model outputs. Their few weights each carry a whole
    class's logit: pruning half of a 1x1 head took a U-Net from Dice 0.99 to 0 here."""
    return {t._keras_history.layer.name for t in model.outputs}  # noqa: SLF001 - tf_keras' graph link


def prune(model, train: SegmentationData, val: SegmentationData, target: float, budget: FinetuneBudget,
          batch_size: int, classes: int, target_dice: float | None = None, seed: int = 0, verbose: int = 1,
          log=print, task: TaskTraining | None = None, **distill) -> PruneResult:
    """Magnitude pruning to `target` sparsity during one `finetune` run (with `task`'s loss,
    targets and validation score, task_training.py). The sparsity ramp is
    derived from the budget's step floor (or its maximum when it has none), so it always ends
    inside the run; the kept weights come from after the ramp."""
    sparsity = tfmot().sparsity.keras
    ramp_over = budget.min_steps or budget.max_steps
    schedule = pruning_schedule(target, ramp_over)
    keep_dense = output_layers(model)

    def wrap(layer):
        if layer.name in keep_dense or type(layer).__name__ not in PRUNABLE_KERNELS:
            return layer
        return sparsity.prune_low_magnitude(layer, pruning_schedule=schedule)

    # Wrapping reuses each layer's variables, so it must wrap a copy, never the caller's model.
    wrapped = keras().models.clone_model(copy_model(model), clone_function=wrap)
    tuned = finetune(wrapped, train, val, budget, classes, batch_size, target_dice, seed, verbose,
                     step_hooks=(sparsity.UpdatePruningStep(),), keep_from_step=ramp_steps(ramp_over)[0] + 1,
                     log=log, task=task, **distill)
    stripped = sparsity.strip_pruning(wrapped)
    return PruneResult(stripped, target, kernel_sparsity(stripped), tuned.steps, sorted(keep_dense), tuned)


__all__ = ["PruneResult", "copy_model", "kernel_sparsity", "prune", "ramp_steps"]
