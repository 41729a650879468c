"""Training and fine-tuning: the training loop, losses and tf.distribute.

Named `training` rather than `train` so that the package never shadows the public
`edgeseg.train()` function."""
from .trainer import TrainResult, auto_verbose, batch_sequence, fit, foreground_weight, train

__all__ = ["TrainResult", "auto_verbose", "batch_sequence", "fit", "foreground_weight", "train"]
