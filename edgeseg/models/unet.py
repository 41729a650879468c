"""U-Net builder. The `seed` preset reproduces the seed architecture (1,925,025 parameters)."""
from __future__ import annotations

from ..backend import keras
from ..errors import UsageError
from .tasks import task_model

# Keras' default 0.99 lags far behind on short trainings; validation then collapses.
BN_MOMENTUM = 0.9


def conv_block(x, filters: int, name: str, batchnorm: bool, kernel: int = 3, dilation: int = 1):
    layers = keras().layers
    for i in (1, 2):
        x = layers.Conv2D(filters, kernel, padding="same", dilation_rate=dilation, use_bias=not batchnorm,
                          activation=None if batchnorm else "relu", name=f"{name}_conv{i}")(x)
        if batchnorm:
            x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn{i}")(x)
            x = layers.ReLU(name=f"{name}_relu{i}")(x)
    return x


def output_layer(x, classes: int, task: str = "semantic"):
    """Semantic: sigmoid for one class, softmax for several. Instance: `classes` independent
    sigmoid channels (foreground, distance[, boundary]), all in [0, 1] so one int8 scale fits."""
    sigmoid = classes == 1 or task_model(task).independent_channels
    return keras().layers.Conv2D(classes, 1, activation="sigmoid" if sigmoid else "softmax", name="output")(x)


def build_unet(height: int, width: int, channels: int, classes: int, base_filters: int, depth: int,
               batchnorm: bool, dropout: float, task: str = "semantic"):
    layers = keras().layers
    if height % 2**depth or width % 2**depth:
        raise UsageError(f"U-Net of depth {depth} needs height and width divisible by {2**depth}, "
                         f"got {height}x{width}")
    inputs = layers.Input((height, width, channels), name="input")
    x, skips = inputs, []
    for level in range(depth):
        x = conv_block(x, base_filters * 2**level, f"enc{level + 1}", batchnorm)
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"enc{level + 1}_pool")(x)
    x = conv_block(x, base_filters * 2**depth, "bottleneck", batchnorm)
    if dropout:
        x = layers.Dropout(dropout, name="bottleneck_dropout")(x)
    for level in reversed(range(depth)):
        name = f"dec{level + 1}"
        x = layers.UpSampling2D(2, name=f"{name}_up")(x)
        x = layers.Conv2D(base_filters * 2**level, 2, padding="same", activation="relu", name=f"{name}_upconv")(x)
        x = layers.Concatenate(name=f"{name}_concat")([skips[level], x])
        x = conv_block(x, base_filters * 2**level, name, batchnorm)
    return keras().Model(inputs, output_layer(x, classes, task), name="unet")
