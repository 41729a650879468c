"""Scores in pure numpy: semantic (Dice, IoU) and instance (F1@0.5, PQ, AJI), and collapse facts."""
from .collapse import CollapseAccumulator, collapse_facts, collapse_reason
from .semantic import ScoreAccumulator, dice, foreground, iou, probabilities_to_labels

__all__ = ["CollapseAccumulator", "ScoreAccumulator", "collapse_facts", "collapse_reason", "dice",
           "foreground", "iou", "probabilities_to_labels"]
