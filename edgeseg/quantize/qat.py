"""Quantization-aware training with tfmot, and its pruning-preserving variant (PQAT)."""
from __future__ import annotations

from ..backend import tfmot
from ..data.dataset import SegmentationData
from ..compress.prune import copy_model
from ..training.finetune import FinetuneBudget, finetune


def quantization_aware(model, train: SegmentationData, val: SegmentationData, budget: FinetuneBudget,
                       batch_size: int, classes: int, preserve_sparsity: bool, target_dice: float | None = None,
                       seed: int = 0, verbose: int = 1, log=print):
    """Returns a fine-tuned QAT model built on a copy of `model`; convert it with the int8 converter."""
    quantize = tfmot().quantization.keras
    base = copy_model(model)
    if preserve_sparsity:
        scheme = tfmot().experimental.combine.Default8BitPrunePreserveQuantizeScheme()
        qat_model = quantize.quantize_apply(quantize.quantize_annotate_model(base), scheme)
    else:
        qat_model = quantize.quantize_model(base)
    finetune(qat_model, train, val, budget, classes, batch_size, target_dice, seed, verbose, log=log)
    return qat_model
