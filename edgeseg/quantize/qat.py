"""Quantization-aware training with tfmot, and its pruning-preserving variant (PQAT)."""
from __future__ import annotations

from ..backend import keras, tfmot
from ..data.dataset import SegmentationData
from ..training.losses import segmentation_loss
from ..training import batch_sequence, fit
from ..compress.prune import copy_model


def quantization_aware(model, train: SegmentationData, epochs: int, batch_size: int, classes: int,
                       preserve_sparsity: bool, seed: int = 0, verbose: int = 1, learning_rate: float = 1e-4):
    """Returns a fine-tuned QAT model built on a copy of `model`; convert it with the int8 converter."""
    quantize = tfmot().quantization.keras
    base = copy_model(model)
    if preserve_sparsity:
        scheme = tfmot().experimental.combine.Default8BitPrunePreserveQuantizeScheme()
        qat_model = quantize.quantize_apply(quantize.quantize_annotate_model(base), scheme)
    else:
        qat_model = quantize.quantize_model(base)
    qat_model.compile(optimizer=keras().optimizers.Adam(learning_rate), loss=segmentation_loss(classes))
    fit(qat_model, batch_sequence(train, batch_size, augment=True, seed=seed), epochs, verbose)
    return qat_model
