"""A model where plain full-int8 PTQ hurts, made on purpose, and how the mixed-precision rung repairs it.

How the model is made: the seed U-Net (no BatchNorm, ReLU) with a function-preserving channel rescaling,
the inverse of cross-layer equalization: in one convolution (LAYER) one output channel's kernel and bias
are multiplied by SCALE and the next convolution's input weights for that channel divided by SCALE. The
float model computes the same function (ReLU is positively homogeneous), but that layer's activation range
is SCALE times wider, so its per-tensor int8 activation scale leaves the other channels a few levels.
This is what a model trained without BatchNorm with one outlier channel looks like to the quantizer.

Usage: PYTHONPATH=. python benchmarks/explain_hurt.py SEED.keras OUT.keras [--layer dec1_conv1] [--scale 64]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from edgeseg.models.io import load_model, save_model

NEXT = {"conv1": "conv2"}  # inside a conv block the first convolution feeds only the second


def rescaled(model, layer: str, scale: float, channel: int | None = None):
    first = model.get_layer(layer)
    block, which = layer.rsplit("_", 1)
    second = model.get_layer(f"{block}_{NEXT[which]}")
    kernel, bias = first.get_weights()
    channel = int(np.argmax(np.abs(kernel).sum(axis=(0, 1, 2)))) if channel is None else channel
    kernel[..., channel] *= scale
    bias[channel] *= scale
    first.set_weights([kernel, bias])
    k2, b2 = second.get_weights()
    k2[:, :, channel, :] /= scale
    second.set_weights([k2, b2])
    return model, channel


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("seed")
    p.add_argument("out")
    p.add_argument("--layer", default="dec1_conv1")
    p.add_argument("--scale", type=float, default=64.0)
    a = p.parse_args()
    model, spec = load_model(Path(a.seed))
    probe = np.random.default_rng(0).random((2, spec.height, spec.width, spec.channels), np.float32)
    before = model.predict(probe, verbose=0)
    model, channel = rescaled(model, a.layer, a.scale)
    after = model.predict(probe, verbose=0)
    print(f"rescaled {a.layer} channel {channel} by {a.scale}: float outputs differ by at most "
          f"{np.abs(before - after).max():.2e}")
    save_model(model, spec, Path(a.out), force=True)


if __name__ == "__main__":
    main()
