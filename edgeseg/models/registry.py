"""Architectures and presets as data: a preset is a dict of builder arguments."""
from __future__ import annotations

import dataclasses

from ..config import ModelConfig, PreprocessSpec
from ..errors import UsageError
from .tasks import task_model

PRESETS: dict[str, dict[str, dict]] = {
    "unet": {
        "seed": dict(height=256, width=256, channels=1, classes=1, base_filters=32, depth=3,
                     batchnorm=False, dropout=0.5),
        "small": dict(height=64, width=64, channels=1, classes=1, base_filters=8, depth=3,
                      batchnorm=True, dropout=0.0),
        "tiny": dict(height=32, width=32, channels=1, classes=1, base_filters=4, depth=2,
                     batchnorm=True, dropout=0.0),
    },
    "deeplab_lite": {
        "seed": dict(height=256, width=256, channels=1, classes=1, base_filters=32, depth=3,
                     batchnorm=True, dropout=0.1),
        "small": dict(height=64, width=64, channels=1, classes=1, base_filters=8, depth=3,
                      batchnorm=True, dropout=0.0),
        "tiny": dict(height=32, width=32, channels=1, classes=1, base_filters=4, depth=2,
                     batchnorm=True, dropout=0.0),
    },
}


def resolve(config: ModelConfig) -> dict:
    """Preset values overridden by whatever the config sets explicitly."""
    if config.arch not in PRESETS:
        raise UsageError(f"unknown arch {config.arch!r}; choose one of {', '.join(PRESETS)}")
    if config.preset not in PRESETS[config.arch]:
        raise UsageError(f"unknown preset {config.preset!r}; choose one of {', '.join(PRESETS[config.arch])}")
    args = dict(PRESETS[config.arch][config.preset])
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name in args and value is not None:
            args[f.name] = value
    if not 0.0 <= args["dropout"] < 1.0 or args["base_filters"] < 1 or args["depth"] < 1:
        raise UsageError("dropout must be in [0, 1); base filters and depth must be >= 1")
    return args


def build_model(config: ModelConfig):
    """Returns an uncompiled tf_keras model."""
    from .deeplab_lite import build_deeplab_lite
    from .unet import build_unet

    builders = {"unet": build_unet, "deeplab_lite": build_deeplab_lite}
    args = resolve(config)
    args["classes"] = task_model(config.task).output_channels(config, args["classes"])
    return builders[config.arch](**args, task=config.task)


def spec_for(config: ModelConfig, normalize: str = "0-1") -> PreprocessSpec:
    args = resolve(config)
    return PreprocessSpec(height=args["height"], width=args["width"], channels=args["channels"],
                          normalize=normalize, **task_model(config.task).spec_fields(config, args["classes"]))
