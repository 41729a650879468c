"""Training losses: BCE + Dice for one class, CE + Dice for several. Labels arrive as
(batch, H, W, 1) class indices for both cases."""
from __future__ import annotations

from ..backend import tf


def segmentation_loss(classes: int, foreground_weight: float = 1.0, smooth: float = 1.0):
    tf_ = tf()

    def binary(y_true, y_pred):
        y_true = tf_.cast(y_true, y_pred.dtype)
        eps = 1e-7
        p = tf_.clip_by_value(y_pred, eps, 1 - eps)
        bce = -(foreground_weight * y_true * tf_.math.log(p) + (1 - y_true) * tf_.math.log(1 - p))
        inter = tf_.reduce_sum(y_true * y_pred)
        dice = (2 * inter + smooth) / (tf_.reduce_sum(y_true) + tf_.reduce_sum(y_pred) + smooth)
        return tf_.reduce_mean(bce) + (1 - dice)

    def multiclass(y_true, y_pred):
        labels = tf_.cast(y_true[..., 0], tf_.int32)
        onehot = tf_.one_hot(labels, classes, dtype=y_pred.dtype)
        ce = -tf_.math.log(tf_.clip_by_value(tf_.reduce_sum(onehot * y_pred, axis=-1), 1e-7, 1.0))
        weights = tf_.where(labels > 0, foreground_weight, 1.0)
        inter = tf_.reduce_sum(onehot * y_pred, axis=[0, 1, 2])
        totals = tf_.reduce_sum(onehot + y_pred, axis=[0, 1, 2])
        dice = tf_.reduce_mean((2 * inter + smooth) / (totals + smooth))
        return tf_.reduce_mean(ce * tf_.cast(weights, ce.dtype)) + (1 - dice)

    return binary if classes == 1 else multiclass
