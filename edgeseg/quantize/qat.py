"""Quantization-aware training with tfmot, and its pruning-preserving variant (PQAT)."""
from __future__ import annotations

from ..backend import tfmot
from ..data.dataset import SegmentationData
from ..prune.magnitude import copy_model
from ..training.finetune import FinetuneBudget, finetune


def qat_copy(model, preserve_sparsity: bool):
    """tfmot's QAT wrappers on a copy of `model`; with `preserve_sparsity` the pruning-preserving
    scheme (PQAT), which keeps a pruned model's zeros through training."""
    quantize = tfmot().quantization.keras
    base = copy_model(model)
    if preserve_sparsity:
        scheme = tfmot().experimental.combine.Default8BitPrunePreserveQuantizeScheme()
        return quantize.quantize_apply(quantize.quantize_annotate_model(base), scheme)
    return quantize.quantize_model(base)


def quantization_aware(model, train: SegmentationData, val: SegmentationData, budget: FinetuneBudget,
                       batch_size: int, classes: int, preserve_sparsity: bool, target_dice: float | None = None,
                       seed: int = 0, verbose: int = 1, log=print):
    """Returns a fine-tuned QAT model built on a copy of `model`; convert it with the int8 converter."""
    qat_model = qat_copy(model, preserve_sparsity)
    finetune(qat_model, train, val, budget, classes, batch_size, target_dice, seed, verbose, log=log)
    return qat_model
