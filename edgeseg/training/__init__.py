"""Training and fine-tuning: the training loop, losses and tf.distribute.

Named `training` rather than `train` so that the package never shadows the public
`edgeseg.train()` function."""
from .loop import TrainResult, auto_verbose, batch_sequence, fit, foreground_weight
from .trainer import train

__all__ = ["TrainResult", "auto_verbose", "batch_sequence", "fit", "foreground_weight", "train"]
