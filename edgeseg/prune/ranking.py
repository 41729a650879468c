"""Filter ranking criteria for channel pruning, measured on data rather than read from weights.

- "l1": the L1 norm of each filter, or |gamma| of the BatchNorm that reads it (channels.py's
  default; needs no data).
- "taylor": the first-order Taylor estimate of the loss change when a filter's output is
  zeroed (Molchanov et al., 2017): |mean over pixels of activation x gradient|, averaged over
  training images. It sees what a filter does to this model's loss on this data: for an
  instance model the instance loss on targets made from the label maps (task_training.py)."""
from __future__ import annotations

import numpy as np

from ..data.dataset import SegmentationData
from ..training.task_training import TaskTraining, semantic_training
from .channels import PRODUCERS

CRITERIA = ("l1", "taylor")


def taylor_scores(model, data: SegmentationData, classes: int, batch_size: int = 8,
                  max_images: int = 64, task: TaskTraining | None = None) -> dict[str, np.ndarray]:
    """Producer layer name -> Taylor score per output channel, on `task`'s loss and targets
    (the segmentation loss on class indices when None)."""
    from ..backend import tf
    from ..models.keras3 import keras_module
    from .graph_links import model_input

    tf_ = tf()
    producers = [layer for layer in model.layers if type(layer).__name__ in PRODUCERS]
    probe = keras_module(model).Model(model_input(model), [layer.output for layer in producers] + list(model.outputs))
    task = task or semantic_training(classes)
    loss_fn = task.make_loss()
    totals = [np.zeros(int(layer.output.shape[-1])) for layer in producers]
    images_seen = 0
    for images, labels in data.batches(batch_size, limit=max_images):
        with tf_.GradientTape() as tape:
            *activations, predicted = probe(images, training=False)
            loss = loss_fn(tf_.constant(task.target_of(labels), tf_.float32), predicted)
        grads = tape.gradient(loss, activations)
        for n, (a, g) in enumerate(zip(activations, grads)):
            spatial = tuple(range(1, len(a.shape) - 1))
            per_image = tf_.abs(tf_.reduce_mean(a * g, axis=spatial)) if spatial else tf_.abs(a * g)
            totals[n] += per_image.numpy().sum(axis=0)
        images_seen += len(images)
    return {layer.name: total / max(images_seen, 1) for layer, total in zip(producers, totals)}


def measured_scores(criterion: str, model, data: SegmentationData, classes: int, batch_size: int,
                    task: TaskTraining | None = None):
    """The `measured` argument of prune_channels for a criterion (None: weight norms)."""
    if criterion not in CRITERIA:
        raise ValueError(f"unknown ranking criterion {criterion!r}; choose one of {', '.join(CRITERIA)}")
    return taylor_scores(model, data, classes, batch_size, task=task) if criterion == "taylor" else None
