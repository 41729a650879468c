"""What fine-tuning does differently per model task, as one object chosen from a table.

Fine-tuning (pruning's and channel pruning's recovery) and the Taylor filter ranking share one
loop; what differs by task is the loss, how a batch of (augmented) label maps becomes training
targets, and which validation score decides the best weights and the early stop. A semantic
model trains on its class indices with the segmentation loss and is judged by Dice; an instance
model trains on targets made from its label maps with the instance loss and is judged by PQ,
decoded with the settings stored in its spec (Dice cannot see touching objects merge)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    from ..config import PreprocessSpec
    from ..data.dataset import SegmentationData

Predictor = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class TaskTraining:
    """The task-specific parts of fine-tuning. `score_name` is the key of `scorer`'s result that
    decides (and the name FinetuneResult records); `targets` None means the labels as one channel."""

    task: str
    score_name: str  # "dice" | "pq"
    score_label: str  # how logs name it: "Dice" | "PQ"
    make_loss: Callable[[], Callable]  # () -> loss(y_true, y_pred)
    scorer: Callable[[Predictor, "SegmentationData", int], dict]  # (predict, val, batch_size) -> scores
    targets: Callable[[np.ndarray], np.ndarray] | None = None  # label maps -> training targets
    independent_channels: bool = False  # every output channel its own sigmoid (distillation's KL)
    # fine-tuning may give up a run that cannot reach its target (EarlyStop's hopeless rule): validated
    # on recorded Dice curves only; PQ curves plateau, then jump when instances separate (an epoch
    # patience stopped an instance training at PQ 0.435 that reached 0.693), so instances never give up
    gives_up_hopeless: bool = True

    def target_of(self, labels: np.ndarray) -> np.ndarray:
        """The training targets of a batch of label maps, as batch_sequence makes them."""
        return self.targets(labels) if self.targets else labels[..., None].astype(np.float32)

    def score(self, predict: Predictor, val: "SegmentationData", batch_size: int) -> float:
        return float(self.scorer(predict, val, batch_size)[self.score_name])


def _dice_scores(predict: Predictor, val: "SegmentationData", batch_size: int) -> dict:
    from ..scoring.predictors import evaluate_predictor

    return evaluate_predictor(predict, val, batch_size)


def _segmentation_loss(classes: int):
    from .losses import segmentation_loss

    return segmentation_loss(classes)


def _instance_loss():
    from .losses_instance import instance_loss

    return instance_loss()


def _pq_scores(decode: dict | None, predict: Predictor, val: "SegmentationData", batch_size: int) -> dict:
    from ..instances.scoring import decode_settings, evaluate_instances

    return evaluate_instances(predict, val, decode_settings(decode), batch_size)


def _instance_targets(boundary: bool, labels: np.ndarray) -> np.ndarray:
    from .instance import target_batch

    return target_batch(labels, boundary)


def semantic_training(classes: int) -> TaskTraining:
    """Class indices, the segmentation loss (BCE/CE + Dice), validation Dice."""
    return TaskTraining("semantic", "dice", "Dice", partial(_segmentation_loss, classes), _dice_scores)


def instance_training(decode: dict | None, boundary: bool) -> TaskTraining:
    """Targets from the augmented label maps, the instance loss, validation PQ decoded with
    `decode` (the spec's stored settings; the defaults when it has none)."""
    return TaskTraining("instance", "pq", "PQ", _instance_loss, partial(_pq_scores, decode),
                        partial(_instance_targets, boundary), independent_channels=True, gives_up_hopeless=False)


# spec.task -> the fine-tuning of that task, made from the model's spec
TASK_TRAINING: dict[str, Callable[["PreprocessSpec"], TaskTraining]] = {
    "semantic": lambda spec: semantic_training(spec.classes),
    "instance": lambda spec: instance_training(spec.decode, spec.instance_channels == 3),
}


def task_training(spec: "PreprocessSpec") -> TaskTraining:
    """The fine-tuning parts for the model `spec` describes (its task, classes, decoding)."""
    return TASK_TRAINING[spec.task](spec)


__all__ = ["TASK_TRAINING", "TaskTraining", "instance_training", "semantic_training", "task_training"]
