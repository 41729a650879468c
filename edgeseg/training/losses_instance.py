"""The instance head's training loss: every output channel is an independent sigmoid target in
[0, 1] (foreground, normalized inner distance[, boundary])."""
from __future__ import annotations

from ..backend import tf


def instance_loss(smooth: float = 1.0):
    """Mean binary cross-entropy over all channels (soft targets for the distance), plus Dice on
    the foreground channel so small objects are not drowned by background."""
    tf_ = tf()

    def loss(y_true, y_pred):
        y_true = tf_.cast(y_true, y_pred.dtype)
        p = tf_.clip_by_value(y_pred, 1e-7, 1 - 1e-7)
        bce = -(y_true * tf_.math.log(p) + (1 - y_true) * tf_.math.log(1 - p))
        fg_true, fg_pred = y_true[..., 0], y_pred[..., 0]
        dice = (2 * tf_.reduce_sum(fg_true * fg_pred) + smooth) / (
            tf_.reduce_sum(fg_true) + tf_.reduce_sum(fg_pred) + smooth)
        return tf_.reduce_mean(bce) + (1 - dice)

    return loss
