"""Distillation from the float model: the fine-tuning loss mixes the task loss on the masks
with a loss to the teacher's probabilities. The teacher is the model the user already trusts,
so its soft outputs carry more than a few dozen binary masks; images without masks
(--unlabeled) are used only through it."""
from __future__ import annotations

from ..backend import tf
from .losses import segmentation_loss

EPS = 1e-7


def distillation_loss(student, teacher, independent_channels: bool = False):
    """Mean per-pixel KL divergence KL(teacher || student) between probability maps: a sigmoid
    map (last axis 1, Bernoulli per pixel) or a softmax map (last axis = classes). With
    `independent_channels` (instance models: foreground, distance[, boundary] are separate
    sigmoids) every channel is its own Bernoulli, whatever the last axis. Zero when the student
    matches the teacher."""
    tf_ = tf()
    teacher = tf_.cast(teacher, student.dtype)
    s = tf_.clip_by_value(student, EPS, 1 - EPS)
    t = tf_.clip_by_value(teacher, EPS, 1 - EPS)
    if independent_channels or student.shape[-1] == 1:
        kl = t * tf_.math.log(t / s) + (1 - t) * tf_.math.log((1 - t) / (1 - s))
    else:
        kl = tf_.reduce_sum(t * tf_.math.log(t / s), axis=-1)
    return tf_.reduce_mean(kl)


def training_loss(classes: int, teacher=None, weight: float = 0.0, task_training=None):
    """fn(model, images, labels, unlabeled_or_None) -> scalar loss for one batch:
    (1 - weight) * task + weight * KL to the teacher on the labelled images, plus weight * KL
    on the unlabeled ones. Without a teacher (or weight 0) it is the task loss alone. The task
    loss is `task_training`'s (task_training.py), the segmentation loss when None."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"distillation weight must be in [0, 1], got {weight}")
    task = task_training.make_loss() if task_training else segmentation_loss(classes)
    independent = bool(task_training and task_training.independent_channels)
    distilling = teacher is not None and weight > 0

    def kl(student, teacher_probs):
        return distillation_loss(student, teacher_probs, independent)

    def loss(model, images, labels, unlabeled=None):
        predicted = model(images, training=True)
        value = task(labels, predicted)
        if not distilling:
            return value
        value = (1 - weight) * value + weight * kl(predicted, teacher(images, training=False))
        if unlabeled is not None:
            value += weight * kl(model(unlabeled, training=True), teacher(unlabeled, training=False))
        return value

    return loss


__all__ = ["distillation_loss", "training_loss"]
