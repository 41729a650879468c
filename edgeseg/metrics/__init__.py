"""Scores in pure numpy: semantic (Dice, IoU) and instance (F1@0.5, PQ, AJI)."""
from .semantic import ScoreAccumulator, dice, iou, probabilities_to_labels

__all__ = ["ScoreAccumulator", "dice", "iou", "probabilities_to_labels"]
