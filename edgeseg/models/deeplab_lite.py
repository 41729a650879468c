"""A small DeepLabv3+-style network: strided encoder, dilated convolutions, an ASPP block and
bilinear upsampling with one low-level skip. It gives every later step a second architecture."""
from __future__ import annotations

from ..backend import keras
from ..errors import UsageError
from .unet import BN_MOMENTUM, conv_block, output_layer


def _conv_bn_relu(x, filters: int, kernel: int, name: str, strides: int = 1, dilation: int = 1):
    layers = keras().layers
    x = layers.Conv2D(filters, kernel, strides=strides, dilation_rate=dilation, padding="same",
                      use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def build_deeplab_lite(height: int, width: int, channels: int, classes: int, base_filters: int,
                       depth: int, batchnorm: bool, dropout: float, task: str = "semantic"):
    layers = keras().layers
    stride = 2**depth
    if height % stride or width % stride:
        raise UsageError(f"deeplab_lite of depth {depth} needs height and width divisible by {stride}")
    inputs = layers.Input((height, width, channels), name="input")
    x = _conv_bn_relu(inputs, base_filters, 3, "stem")
    low_level = None
    for level in range(depth):
        x = _conv_bn_relu(x, base_filters * 2 ** (level + 1), 3, f"down{level + 1}", strides=2)
        if level == 0:
            low_level = x
    x = conv_block(x, base_filters * 2**depth, "context", batchnorm, dilation=2)
    fh, fw = height // stride, width // stride
    aspp_filters = base_filters * 2
    branches = [_conv_bn_relu(x, aspp_filters, 1, "aspp_1x1")]
    for rate in (2, 4, 6):
        branches.append(_conv_bn_relu(x, aspp_filters, 3, f"aspp_rate{rate}", dilation=rate))
    pooled = layers.AveragePooling2D((fh, fw), name="aspp_pool")(x)
    pooled = _conv_bn_relu(pooled, aspp_filters, 1, "aspp_pool_proj")
    branches.append(layers.UpSampling2D((fh, fw), name="aspp_pool_up")(pooled))
    x = layers.Concatenate(name="aspp_concat")(branches)
    x = _conv_bn_relu(x, aspp_filters, 1, "aspp_proj")
    if dropout:
        x = layers.Dropout(dropout, name="aspp_dropout")(x)
    x = layers.UpSampling2D(stride // 2, interpolation="bilinear", name="decoder_up1")(x)
    skip = _conv_bn_relu(low_level, base_filters, 1, "skip_proj")
    x = layers.Concatenate(name="decoder_concat")([x, skip])
    x = _conv_bn_relu(x, aspp_filters, 3, "decoder")
    x = layers.UpSampling2D(2, interpolation="bilinear", name="decoder_up2")(x)
    return keras().Model(inputs, output_layer(x, classes, task), name="deeplab_lite")
