"""A model file's stored architecture, read as JSON before anything is deserialized.

tf_keras ignores safe_mode for HDF5 files, so a Lambda layer in a Keras 2 `.h5` would run its
stored code during loading. Reading the config first (the `model_config` HDF5 attribute, or
config.json in a .keras zip) lets every format be refused the same way, without TensorFlow.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Iterator

from ..errors import ModelError, UsageError

MAX_CONFIG_BYTES = 64 * 2**20  # a model config is a few hundred KB; more is not a model
CODE_LAYERS = ("Lambda",)  # layers whose config carries Python code


def read_stored_config(path: Path) -> dict:
    """The model's architecture config as a dict, from either format."""
    path = Path(path)
    if path.suffix == ".keras":
        raw = _zip_entry(path, "config.json")
    else:
        raw = _h5_attr(path, "model_config")
    try:
        config = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot load {path}: the stored model config is not JSON ({exc})") from None
    if not isinstance(config, dict):
        raise ModelError(f"cannot load {path}: the stored model config is not an object")
    return config


def _zip_entry(path: Path, name: str) -> bytes:
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(name)
            if info.file_size > MAX_CONFIG_BYTES:
                raise ModelError(f"{path}: {name} is {info.file_size:,} bytes, over the limit of {MAX_CONFIG_BYTES:,}")
            with archive.open(info) as handle:
                data = handle.read(MAX_CONFIG_BYTES + 1)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise ModelError(f"cannot load {path}: cannot read {name} ({type(exc).__name__})") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ModelError(f"{path}: {name} is over the limit of {MAX_CONFIG_BYTES:,} bytes")
    return data


def _h5_attr(path: Path, name: str) -> bytes | str:
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            raw = h5.attrs.get(name)
    except OSError as exc:
        raise ModelError(f"{path} is not a readable HDF5 model: {exc}") from None
    if raw is None:
        raise ModelError(f"{path} is an HDF5 file without a model config (weights only?)")
    return raw


def layers(config) -> Iterator[dict]:
    """Every layer entry (a dict with class_name) anywhere in the config, nested models included."""
    if isinstance(config, dict):
        if isinstance(config.get("class_name"), str) and isinstance(config.get("config"), dict):
            yield config
        for value in config.values():
            yield from layers(value)
    elif isinstance(config, list):
        for value in config:
            yield from layers(value)


def _layer_name(entry: dict) -> str:
    return str(entry.get("name") or entry["config"].get("name") or "?")


def _input_count(model_config: dict) -> int:
    inputs = model_config.get("input_layers")
    if not isinstance(inputs, list) or not inputs:
        return 1
    return len(inputs) if isinstance(inputs[0], list) else 1


def _check_inputs(path: Path, config: dict) -> None:
    """One input of a fixed size: refused here, before Keras 3 builds (and rebuilds) the model."""
    inner = config.get("config") if isinstance(config.get("config"), dict) else {}
    count = _input_count(inner)
    if count != 1:
        raise ModelError(f"{path}: a segmentation model has one input; this one has {count}")
    for entry in layers(inner.get("layers", [])):
        if entry["class_name"] != "InputLayer":
            continue
        shape = entry["config"].get("batch_shape") or entry["config"].get("batch_input_shape")
        if isinstance(shape, list) and len(shape) == 4 and None in shape[1:3]:
            raise ModelError(f"{path}: input {_layer_name(entry)!r} has no fixed size {shape}; "
                             "rebuild the model with a fixed height and width")


def _pair(value) -> tuple:
    return tuple(value) if isinstance(value, (list, tuple)) else (value, value)


KERAS_MODULES = ("keras", "tf_keras")  # a class from any other package builds its layers in code


def crashes_onednn_training(path: Path) -> bool:
    """Does the model hold a Conv2D with a 1x1 kernel and a stride above 1, or may it? Training one
    corrupts the heap in TensorFlow 2.21's oneDNN kernels (see backend.without_onednn_for_training).
    Read from the stored config, before TensorFlow is imported. A class registered by another package
    (KerasHub's ResNetBackbone) stores its arguments, not its layers: it may hold one (KerasHub's
    DeepLabV3 does, and its channel pruning died with SIGSEGV). An unreadable file says no (loading
    reports it)."""
    try:
        entries = list(layers(read_stored_config(path)))
    except (ModelError, OSError):
        return False
    return any(e["class_name"] == "Conv2D" and _pair(e["config"].get("kernel_size")) == (1, 1)
               and max(_pair(e["config"].get("strides", 1))) > 1
               or str(e.get("module") or "keras").split(".")[0] not in KERAS_MODULES for e in entries)


def inspect_stored_config(path: Path, unsafe: bool) -> set[str]:
    """Refuses code-carrying layers without --unsafe and models with several or dynamic
    inputs; returns the layer class names the file uses (to name unknown custom layers)."""
    config = read_stored_config(path)
    entries = list(layers(config))
    if not unsafe:
        for entry in entries:
            if entry["class_name"] in CODE_LAYERS:
                raise UsageError(f"{path}: layer {_layer_name(entry)!r} is a {entry['class_name']} layer: it runs "
                                 "arbitrary Python stored in the file, so it is refused; pass --unsafe only for a "
                                 "file you trust")
    if config.get("class_name") in ("Functional", "Model", "Sequential"):
        _check_inputs(path, config)
    return {e["class_name"] for e in entries}
