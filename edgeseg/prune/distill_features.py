"""Distillation of intermediate features during recovery from channel pruning: besides the
float model's probabilities (training/distill.py), the pruned student is pulled towards the
teacher's block outputs, where a few dozen masks say little about what the removed filters
carried.

The blocks are found on the graph, not by name: a block output is a layer whose result feeds a
layer of another spatial size (the last convolution before a pooling or an upsampling, a U-Net's
encoder and decoder stages). The student has fewer channels there, so a trainable 1x1 adapter
maps its features onto the teacher's; it starts as the least-squares map on one batch (the
kept channels already explain most of the teacher's; a block ending in dropout is tapped
before it) and is thrown away after fine-tuning.
Each layer's squared error is divided by the teacher's mean square, so that every block counts
alike whatever its scale."""
from __future__ import annotations

import numpy as np

from ..backend import tf
from ..models.keras3 import keras_module
from ..training.distill import distillation_loss
from ..training.losses import segmentation_loss
from .graph_links import consumers as consumers_of
from .graph_links import inbound_layers, model_input

EPS = 1e-6
# Layers that only add training noise: a block ending in one is tapped at the layer before it,
# or the student's features would be compared through a random mask the teacher never sees.
NOISE = {"Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout"}


def _spatial(tensor) -> tuple:
    shape = getattr(tensor, "shape", ())  # a nested model's several outputs: no block of its own
    return tuple(shape[1:-1]) if len(shape) == 4 else ()


def block_outputs(model) -> list[str]:
    """Names of the 4-D layers whose output feeds a layer of another spatial size, in model order."""
    names = []
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer" or not _spatial(layer.output):
            continue
        consumers = consumers_of(layer)
        if any(_spatial(c.output) and _spatial(c.output) != _spatial(layer.output) for c in consumers):
            while type(layer).__name__ in NOISE:
                layer = inbound_layers(layer)[0]
            names.append(layer.name)
    return names


def shared_blocks(student, teacher) -> list[str]:
    """The teacher's block outputs that the student has under the same name and spatial size."""
    student_layers = {layer.name: layer for layer in student.layers}
    return [name for name in block_outputs(teacher) if name in student_layers
            and _spatial(student_layers[name].output) == _spatial(teacher.get_layer(name).output)]


def _least_squares(student_features: np.ndarray, teacher_features: np.ndarray) -> np.ndarray:
    s = student_features.reshape(-1, student_features.shape[-1]).astype(np.float64)
    t = teacher_features.reshape(-1, teacher_features.shape[-1]).astype(np.float64)
    kernel, *_ = np.linalg.lstsq(s, t, rcond=None)
    return kernel.astype(np.float32)[None, None]  # a 1x1 convolution's kernel


class FeatureDistillation:
    """The recovery loss of `finetune(recovery_loss=...)`: the task loss, the output distillation
    of training/distill.py, plus `weight` times the mean normalized feature error over the blocks."""

    def __init__(self, student, teacher, weight: float, sample: np.ndarray, layers: list[str] | None = None):
        if weight <= 0:
            raise ValueError(f"feature distillation weight must be > 0, got {weight}")
        K = keras_module(student)  # the adapters train beside the student, with its Keras' optimizer
        self.weight, self.layers = weight, layers if layers is not None else shared_blocks(student, teacher)
        self.student_view = K.Model(model_input(student), [student.output] + [student.get_layer(n).output
                                                                        for n in self.layers])
        self.teacher_view = K.Model(model_input(teacher), [teacher.output] + [teacher.get_layer(n).output
                                                                        for n in self.layers])
        # fitted on the features the loss will see: the student in training mode (batch statistics)
        student_features = self.student_view(sample, training=True)[1:]
        teacher_features = self.teacher_view(sample, training=False)[1:]
        self.adapters = []
        for name, s, t in zip(self.layers, student_features, teacher_features):
            adapter = K.layers.Conv2D(int(t.shape[-1]), 1, use_bias=False, name=f"adapter_{name}")
            adapter.build(s.shape)
            adapter.set_weights([_least_squares(np.asarray(s), np.asarray(t))])
            self.adapters.append(adapter)

    @property
    def variables(self) -> list:
        return [v for adapter in self.adapters for v in adapter.trainable_variables]

    def feature_loss(self, student_features, teacher_features):
        tf_ = tf()
        errors = [tf_.reduce_mean(tf_.square(adapter(s) - t)) / (tf_.reduce_mean(tf_.square(t)) + EPS)
                  for adapter, s, t in zip(self.adapters, student_features, teacher_features)]
        return tf_.add_n(errors) / len(errors) if errors else tf_.constant(0.0)

    def make_loss(self, classes: int, teacher, distill_weight: float, task_training=None):
        """fn(model, images, labels, unlabeled_or_None); `model` is the student this was built on."""
        task = task_training.make_loss() if task_training else segmentation_loss(classes)
        independent = bool(task_training and task_training.independent_channels)

        def distilled(images, labels=None):
            student = self.student_view(images, training=True)
            teacher_out = self.teacher_view(images, training=False)
            value = self.weight * self.feature_loss(student[1:], teacher_out[1:])
            if distill_weight > 0:
                value += distill_weight * distillation_loss(student[0], teacher_out[0], independent)
            if labels is not None:
                value += (1 - distill_weight) * task(labels, student[0])
            return value

        def loss(model, images, labels, unlabeled=None):
            value = distilled(images, labels)
            if unlabeled is not None:
                value += distilled(unlabeled)
            return value

        return loss


def feature_recovery(student, weight: float, train, batch_size: int, teacher=None) -> FeatureDistillation | None:
    """The feature distillation of one recovery, or None when it is off (weight 0) or has no
    teacher or no block shared with the student."""
    if weight <= 0 or teacher is None or not shared_blocks(student, teacher):
        return None
    sample = train.batch(list(range(min(batch_size, len(train)))))[0].astype("float32")
    return FeatureDistillation(student, teacher, weight, sample)


__all__ = ["FeatureDistillation", "block_outputs", "feature_recovery", "shared_blocks"]
