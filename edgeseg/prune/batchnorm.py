"""BatchNorm statistics that follow the pruned model (NNCF's batch-norm adaptation).

Removing filters changes what every later BatchNorm sees, but its moving mean and variance still
describe the unpruned model. Fine-tuning updates them only at the rate its momentum allows: a
MobileNetV2 encoder keeps momentum 0.999, so a thousand steps move them by about 63%, and a
model that lost 2% of its filters scored Dice 0.797 instead of ~0.93 until they caught up.

Re-estimation forgets the old statistics: the model runs forward on training images in training
mode (each BatchNorm normalizes with its batch's statistics, as when it was trained), and each
BatchNorm's moving mean and variance become the plain average of those batches' statistics,
whatever momentum the user's model carries (batch k is weighed with momentum (k-1)/k). Weights are
not touched; dropout and noise layers are switched off meanwhile, since they only exist to train."""
from __future__ import annotations

from typing import Iterable

import numpy as np

BATCHNORM = ("BatchNormalization", "SyncBatchNormalization")
# Layers that only act in training mode and must not disturb the statistics: class -> the attribute
# that switches them off when set to 0.
TRAINING_NOISE = {"Dropout": "rate", "SpatialDropout1D": "rate", "SpatialDropout2D": "rate",
                  "SpatialDropout3D": "rate", "GaussianDropout": "rate", "GaussianNoise": "stddev",
                  "AlphaDropout": "rate"}
DEFAULT_BATCHES = 8


def _all_layers(model) -> list:
    found = []
    for layer in model.layers:
        found += _all_layers(layer) if hasattr(layer, "layers") else [layer]
    return found


def batchnorm_layers(model) -> list:
    return [layer for layer in _all_layers(model) if type(layer).__name__ in BATCHNORM]


def reestimate_batchnorm(model, batches: Iterable[np.ndarray], max_batches: int = DEFAULT_BATCHES) -> int:
    """Replaces every BatchNorm's moving statistics in `model` (in place) by their average over
    up to `max_batches` image batches; returns the number of batches used (0: nothing to do)."""
    norms = batchnorm_layers(model)
    if not norms:
        return 0
    layers = _all_layers(model)
    momenta = [layer.momentum for layer in norms]
    silenced = [(layer, TRAINING_NOISE[type(layer).__name__]) for layer in layers
                if type(layer).__name__ in TRAINING_NOISE]
    noise = [getattr(layer, attr) for layer, attr in silenced]
    used = 0
    try:
        for layer, attr in silenced:
            setattr(layer, attr, 0.0)
        for images in batches:
            if used >= max_batches:
                break
            used += 1
            for layer in norms:
                layer.momentum = (used - 1) / used  # batch 1 replaces the old statistics outright
            model(np.asarray(images, np.float32), training=True)
    finally:
        for layer, momentum in zip(norms, momenta):
            layer.momentum = momentum
        for (layer, attr), value in zip(silenced, noise):
            setattr(layer, attr, value)
    return used


def image_batches(data, batch_size: int, max_batches: int = DEFAULT_BATCHES):
    """Image batches of a SegmentationData, for reestimate_batchnorm."""
    for n, (images, _) in enumerate(data.batches(batch_size)):
        if n >= max_batches:
            return
        yield images


class ReestimateBeforeValidation:
    """A fine-tuning step hook (training/finetune.py calls on_epoch_end right before each
    validation): the score, and the weights kept as the best, use re-estimated statistics."""

    def __init__(self, data, batch_size: int, max_batches: int = DEFAULT_BATCHES):
        self.data, self.batch_size, self.max_batches = data, batch_size, max_batches
        self.model = None
        self.times = 0

    def set_model(self, model) -> None:
        self.model = model

    def on_train_begin(self, logs=None) -> None:
        pass

    def on_train_batch_begin(self, batch, logs=None) -> None:
        pass

    def on_epoch_end(self, epoch, logs=None) -> None:
        if reestimate_batchnorm(self.model, image_batches(self.data, self.batch_size, self.max_batches),
                                self.max_batches):
            self.times += 1


__all__ = ["ReestimateBeforeValidation", "batchnorm_layers", "image_batches", "reestimate_batchnorm"]
