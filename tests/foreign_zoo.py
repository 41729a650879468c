"""Tiny (32x32, 4 filters) stand-ins for the architectures users bring (issue 24): a MobileNetV2-style
U-Net (nested encoder Model, Sequential upsample blocks with Conv2DTranspose, BatchNorm momentum
0.999), an attention U-Net (Multiply gates), a DeepLab-style ASPP head (dilated branches, image
pooling broadcast back, tf.image.resize), a squeeze-excite block, and a model with a layer the
pruning table does not know."""
import numpy as np

from edgeseg.backend import keras, tf

F = 4


def _bn(x, momentum=0.999):
    return keras().layers.BatchNormalization(momentum=momentum)(x)


def mobilenet_encoder(size=32):
    """Inverted residual blocks, returned as a nested Model with two skip outputs."""
    L = keras().layers
    inp = L.Input((size, size, 1))
    x = L.ReLU(6.0)(_bn(L.Conv2D(F, 3, strides=2, padding="same", use_bias=False)(inp)))  # 16x16
    expand = L.ReLU(6.0)(_bn(L.Conv2D(2 * F, 1, use_bias=False)(x)))
    depth = L.ReLU(6.0)(_bn(L.DepthwiseConv2D(3, padding="same", use_bias=False)(expand)))  # lockstep with expand
    project = _bn(L.Conv2D(F, 1, use_bias=False)(depth))
    block = L.Add()([x, project])  # residual group: x and project keep the same channels
    pad = L.ZeroPadding2D(((0, 1), (0, 1)))(block)
    down = L.ReLU(6.0)(_bn(L.Conv2D(2 * F, 3, strides=2, padding="valid", use_bias=False)(pad)))  # 8x8
    return keras().Model(inp, [block, down], name="encoder")


def upsample(filters, name):
    L = keras().layers
    return keras().Sequential([L.Conv2DTranspose(filters, 3, strides=2, padding="same", use_bias=False),
                               L.BatchNormalization(momentum=0.999), L.ReLU()], name=name)


def mobilenet_unet():
    L = keras().layers
    inp = L.Input((32, 32, 1))
    skip, deep = mobilenet_encoder()(inp)
    x = upsample(F, "up_16")(deep)
    x = L.Concatenate()([x, skip])
    x = upsample(F, "up_32")(x)
    out = L.Conv2D(1, 1, activation="sigmoid")(x)
    return keras().Model(inp, out, name="mobilenet_unet")


def attention_gate(skip, gating, filters):
    L = keras().layers
    theta = L.Conv2D(filters, 1, strides=2)(skip)
    phi = L.Conv2D(filters, 1)(gating)
    act = L.Activation("relu")(L.Add()([theta, phi]))
    psi = L.Conv2D(1, 1, activation="sigmoid")(act)
    psi = L.UpSampling2D(2)(psi)
    return L.Multiply()([skip, psi])  # a one-channel gate broadcast over the skip's channels


def attention_unet(size=32):
    L = keras().layers
    inp = L.Input((size, size, 1))
    c1 = L.Conv2D(F, 3, padding="same", activation="relu")(inp)
    p1 = L.MaxPooling2D()(c1)
    c2 = L.Conv2D(2 * F, 3, padding="same", activation="relu")(p1)
    gated = attention_gate(c1, c2, F)
    up = L.Conv2DTranspose(F, 2, strides=2, padding="same")(c2)
    x = L.Concatenate()([up, gated])
    x = L.Conv2D(F, 3, padding="same", activation="relu")(x)
    out = L.Conv2D(1, 1, activation="sigmoid")(x)
    return keras().Model(inp, out, name="attention_unet")


def aspp_model(size=32):
    L = keras().layers
    inp = L.Input((size, size, 1))
    x = L.ReLU()(_bn(L.Conv2D(F, 3, strides=2, padding="same")(inp)))  # 16x16
    branches = [L.Conv2D(F, 1, activation="relu")(x)]
    branches += [L.Conv2D(F, 3, padding="same", dilation_rate=rate, activation="relu")(x) for rate in (2, 4)]
    pooled = L.GlobalAveragePooling2D(keepdims=True)(x)
    pooled = L.Conv2D(F, 1, activation="relu")(pooled)
    branches.append(L.UpSampling2D(size // 2)(pooled))  # image pooling broadcast back
    x = L.Concatenate()(branches)
    x = L.Conv2D(F, 1, activation="relu")(x)
    x = tf().image.resize(x, (size, size))  # a recorded TF op
    out = L.Conv2D(1, 1, activation="sigmoid")(x)
    return keras().Model(inp, out, name="aspp")


def squeeze_excite():
    L = keras().layers
    inp = L.Input((32, 32, 1))
    x = L.Conv2D(F, 3, padding="same", activation="relu")(inp)
    s = L.GlobalAveragePooling2D()(x)
    s = L.Dense(F, activation="sigmoid")(s)
    s = L.Reshape((1, 1, F))(s)
    x = L.Multiply()([x, s])  # pooling + broadcast: the Dense keeps the same channels as the conv
    x = L.Conv2D(F, 3, padding="same", activation="relu")(x)
    out = L.Conv2D(1, 1, activation="sigmoid")(x)
    return keras().Model(inp, out, name="squeeze_excite")


def with_unknown_layer():
    """LayerNormalization over channels is not in the table: only its own group is frozen."""
    L = keras().layers
    inp = L.Input((32, 32, 1))
    a = L.Conv2D(F, 3, padding="same", activation="relu")(inp)
    a = L.LayerNormalization()(a)
    b = L.Conv2D(F, 3, padding="same", activation="relu")(a)
    out = L.Conv2D(1, 1, activation="sigmoid")(b)
    return keras().Model(inp, out, name="unknown")


ZOO = {"mobilenet_unet": mobilenet_unet, "attention_unet": attention_unet, "aspp": aspp_model,
       "squeeze_excite": squeeze_excite, "unknown": with_unknown_layer}


def randomize(model, seed=0):
    """Random weights everywhere (biases and BatchNorm statistics too, variances positive), so that
    a wrongly kept or dropped channel changes the output."""
    rng = np.random.default_rng(seed)
    for layer in _leaves(model):
        names = [w.name for w in layer.weights]
        layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32) if "variance" in n
                           else rng.normal(0, 0.4, w.shape).astype(np.float32)
                           for n, w in zip(names, layer.get_weights())])
    return model


def _leaves(model):
    for layer in model.layers:
        yield from (_leaves(layer) if hasattr(layer, "layers") else [layer])
