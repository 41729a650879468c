"""Keras 3 models rebuilt as equivalent tf_keras models.

tensorflow-model-optimization needs Keras 2 (tf_keras);
the TFLite converter (export/tflite.py) and tf2onnx take a Keras 3 model as it is (TFLite traces the
rebuild only for the layers of WORSE_IN_TFLITE). A Keras 3 file is loaded with Keras 3, then its layer graph is replayed layer by
layer with the tf_keras class of the same name, the same names and the same weights. A layer
with no tf_keras class (a KerasHub block, a user's Keras 3 class) is carried as it is, inside a
tf_keras wrapper (keras3_island.py): no tf_keras twin is needed. The two models are compared on
random inputs every time; a rebuild that disagrees is refused.

Only what needs tfmot needs the rebuild (magnitude pruning, QAT): `load_model(..., keep_keras3=True)`
returns the Keras 3 model itself (evaluation, post-training quantization, export, channel pruning, its
search, fine-tuning and distillation take it as it is), and `as_tf_keras` rebuilds it on first need, with
the flags it was loaded with.
"""
from __future__ import annotations

import inspect
import re
import weakref

import numpy as np

from ..errors import ModelError, UsageError, first_line

# The class name in Keras' "unknown layer" errors, whatever the wording of the version.
UNKNOWN_CLASS = re.compile(r"Unknown (?:layer|object)[^'\"]*['\"]?(\w+)|Could not locate class ['\"]?(\w+)")

SUPPORTED = (
    "InputLayer", "Conv2D", "Conv2DTranspose", "SeparableConv2D", "DepthwiseConv2D", "BatchNormalization",
    "Activation", "ReLU", "LeakyReLU", "PReLU", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
    "UpSampling2D", "Resizing", "Rescaling", "ZeroPadding2D", "Cropping2D", "Concatenate", "Add", "Multiply",
    "Dropout", "SpatialDropout2D", "Reshape", "Softmax", "Dense", "Lambda",
)
RENAMED_KEYS = {"LeakyReLU": {"negative_slope": "alpha"}}
BASE_KEYS = {"name", "trainable", "dtype"}
AGREEMENT_ATOL = 1e-5
# A Keras 3 model kept as it is -> how it was loaded (unsafe, the user's tf_keras twins), so that
# its rebuild, made only when tensorflow-model-optimization needs one, honours the same flags.
_LOADED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_REBUILT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _plain_dtype(value):
    if isinstance(value, dict):  # Keras 3 DTypePolicy
        return value.get("config", {}).get("name", "float32")
    return value


def _tf_keras_config(layer, tf_class) -> dict:
    config = dict(layer.get_config())
    for old, new in RENAMED_KEYS.get(type(layer).__name__, {}).items():
        if old in config:
            config[new] = config.pop(old)
    config["dtype"] = _plain_dtype(config.get("dtype"))
    accepted = set(inspect.signature(tf_class.__init__).parameters) | BASE_KEYS
    # Initializers, regularizers and constraints shape training, not inference; the weights are copied.
    return {k: v for k, v in config.items() if k in accepted
            and not k.endswith(("_initializer", "_regularizer", "_constraint"))}


def _shapes(args) -> list:
    """The input shapes of one call, as JSON lists (a list of them for several inputs)."""
    import keras

    shapes = [[None if d is None else int(d) for d in t.shape] for t in keras.tree.flatten(args)
              if hasattr(t, "shape")]
    return shapes[0] if len(shapes) == 1 else shapes


def _is_model(layer) -> bool:
    return hasattr(layer, "layers") and hasattr(layer, "inputs")


def _carried_as_is(layer, custom: dict) -> bool:
    """A layer with no tf_keras class: the rebuild carries it in a wrapper (keras3_island.py)."""
    name = type(layer).__name__
    return name not in custom and (name not in SUPPORTED or type(layer).__module__.split(".")[0] != "keras")


def is_keras3(model) -> bool:
    """A Keras 3 model, its class defined in keras or on top of it (KerasHub's `keras_hub.*` models)."""
    return any(c.__module__.split(".")[0] == "keras" for c in type(model).__mro__)


def keras_module(model):
    """The Keras a model belongs to: Keras 3 for a Keras 3 model, tf_keras otherwise. Code that
    builds layers, probes or optimizers for a given model takes them from here, so that the same
    code serves a Keras 3 model kept as it is and a tf_keras one."""
    from ..backend import keras, tf

    if is_keras3(model):
        tf()  # the environment TensorFlow needs, before Keras 3 imports it
        import keras as keras3

        return keras3
    return keras()


def loaded_like(derived, source):
    """`derived` (a model made from `source`: channel pruning's result), rebuilt on need with the flags
    `source` was loaded with (--unsafe, the user's tf_keras twins), as `source` itself would be."""
    if source in _LOADED:
        _LOADED[derived] = _LOADED[source]
    return derived


def foreign_layers(model, custom: dict | None = None) -> list[str]:
    """'name (Class)' of each layer of a Keras 3 model that its tf_keras rebuild would carry as it
    is (nested models searched): tensorflow-model-optimization cannot wrap those, and their MACs
    are not counted. Read from the model alone, without rebuilding it."""
    custom = _LOADED.get(model, (False, {}))[1] if custom is None else custom
    found = []
    for layer in model.layers:
        if _is_model(layer):
            found.extend(foreign_layers(layer, custom))
        elif type(layer).__name__ != "InputLayer" and _carried_as_is(layer, custom):
            found.append(f"{layer.name} ({type(layer).__name__})")
    return found


def carried_layers(model) -> list[str]:
    """'name (Class)' of the Keras 3 layers with no tf_keras class, which tfmot cannot wrap and whose
    MACs are not counted: those a tf_keras model carries as they are, or those a Keras 3 model kept
    as it is would carry once rebuilt."""
    from .keras3_island import islands

    return foreign_layers(model) if is_keras3(model) else islands(model)


def as_tf_keras(model):
    """The tf_keras model for what needs tfmot (magnitude pruning, QAT):
    `model` itself when it is one; a Keras 3 model kept as it is is rebuilt once, on first need,
    with the flags it was loaded with. ModelError, with its cause, when it cannot be rebuilt or the
    rebuild disagrees with it: callers skip their tfmot or pruning step in one line and go on."""
    if not is_keras3(model):
        return model
    if model not in _REBUILT:
        unsafe, custom = _LOADED.get(model, (False, {}))
        try:
            _REBUILT[model] = rebuild(model, unsafe, custom=custom)
        except (ModelError, UsageError):
            raise
        except Exception as exc:  # a layer whose config tf_keras or the island cannot take
            raise ModelError(f"this Keras 3 model cannot be rebuilt as tf_keras: {type(exc).__name__}: "
                             f"{first_line(exc)[:200]}") from exc
    return _REBUILT[model]


# Keras 3 layers the TFLite converter lowers worse than their tf_keras twin. Keras 3's nearest
# UpSampling2D is ops.repeat, traced as RESHAPE/TILE/RESHAPE: TILE is not an Edge TPU op, the CPU
# upsampling rewrite (runtimes/litert_upsample.py) does not see it, litert-quantizer leaves it in float
# between DEQUANTIZE/QUANTIZE, and the int8 file ran 1.26x slower than the rebuild's on litert-cpu
# (128x128 U-Net, interleaved). tf_keras traces RESIZE_NEAREST_NEIGHBOR.
WORSE_IN_TFLITE = {"UpSampling2D": lambda layer: getattr(layer, "interpolation", "nearest") == "nearest"}


def _layers_deep(model):
    for layer in model.layers:
        yield from _layers_deep(layer) if _is_model(layer) else (layer,)


def tflite_source(model):
    """The model TFLite conversion traces: a Keras 3 model holding a layer of WORSE_IN_TFLITE is traced
    through its tf_keras rebuild (made once, outputs checked equal to the model's); every other model,
    or one that cannot be rebuilt, as it is."""
    if not is_keras3(model) or not any(WORSE_IN_TFLITE.get(type(layer).__name__, lambda _: False)(layer)
                                       for layer in _layers_deep(model)):
        return model
    try:
        return as_tf_keras(model)
    except ModelError:
        return model


def _convert_layer(layer, unsafe: bool, custom: dict, args=()):
    import tf_keras

    from .keras3_island import wrap

    name = type(layer).__name__
    if _is_model(layer):
        return rebuild(layer, unsafe, check=False, custom=custom)
    if name in custom:  # a tf_keras twin the user wrote (still honoured; no longer needed)
        return custom[name].from_config(_tf_keras_config(layer, custom[name]))
    if _carried_as_is(layer, custom):
        return wrap(layer, _shapes(args))
    if name == "Lambda":
        if not unsafe:
            raise UsageError(f"layer {layer.name!r} is a Lambda layer: it runs arbitrary Python stored in the "
                             "file, so it is refused; pass --unsafe only for a file you trust")
        return tf_keras.layers.Lambda(layer.function, name=layer.name)
    tf_class = getattr(tf_keras.layers, name)
    return tf_class(**_tf_keras_config(layer, tf_class))


def _rebuild_sequential(model, unsafe: bool, custom: dict):
    import tf_keras

    inputs = tf_keras.Input(batch_shape=model.inputs[0].shape, name=model.inputs[0].name.split(":")[0])
    x, pairs = inputs, []
    for layer in model.layers:
        converted = _convert_layer(layer, unsafe, custom, [layer.input])
        x = converted(x)
        pairs.append((layer, converted))
    return tf_keras.Model(inputs, x, name=model.name), pairs


def _rebuild_functional(model, unsafe: bool, custom: dict):
    import keras
    import tf_keras

    tensors: dict[int, object] = {}
    pairs = []
    for t in model.inputs:
        tensors[id(t)] = tf_keras.Input(batch_shape=t.shape, name=t.name.split(":")[0], dtype=t.dtype)
    for depth in sorted(model._nodes_by_depth, reverse=True):  # noqa: SLF001 - Keras 3's graph order
        for node in model._nodes_by_depth[depth]:  # noqa: SLF001
            layer = node.operation
            if type(layer).__name__ == "InputLayer":
                continue
            converted = next((c for l, c in pairs if l is layer), None)  # a shared layer is converted once
            if converted is None:
                converted = _convert_layer(layer, unsafe, custom, node.arguments.args)
                pairs.append((layer, converted))
            swap = lambda v: tensors[id(v)] if isinstance(v, keras.KerasTensor) else v  # noqa: E731
            args = keras.tree.map_structure(swap, node.arguments.args)
            kwargs = keras.tree.map_structure(swap, node.arguments.kwargs)
            outputs = converted(*args, **kwargs)
            flat = outputs if isinstance(outputs, (list, tuple)) else [outputs]
            for k3, tk in zip(node.outputs, flat):
                tensors[id(k3)] = tk
    rebuilt = tf_keras.Model([tensors[id(t)] for t in model.inputs], [tensors[id(t)] for t in model.outputs],
                             name=model.name)
    return rebuilt, pairs


def _copy_weights(pairs) -> None:
    for source, target in pairs:
        if _is_model(source) or hasattr(target, "inner"):
            continue  # nested models copied their own weights when rebuilt; an island holds the originals
        weights = [np.asarray(w) for w in source.get_weights()]
        if len(weights) != len(target.get_weights()):
            raise ModelError(f"layer {source.name!r}: {len(weights)} weights in the file, "
                             f"{len(target.get_weights())} in the rebuilt layer")
        target.set_weights(weights)


def output_difference(model, other, samples: int = 2, seed: int = 0) -> float:
    """Largest absolute difference of two models' outputs on the same random inputs (in [0, 1)):
    how a rebuild, a flattened copy or any other copy is checked against the model it copies."""
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    x = np.random.default_rng(seed).random((samples, *shape)).astype(np.float32)
    return float(np.abs(np.asarray(model(x, training=False)) - np.asarray(other(x, training=False))).max())


def check_agreement(original, rebuilt, samples: int = 2, seed: int = 0) -> float:
    """Largest absolute output difference on random inputs; refuses a rebuild above AGREEMENT_ATOL."""
    diff = output_difference(original, rebuilt, samples, seed)
    if not diff <= AGREEMENT_ATOL:
        raise ModelError(f"the tf_keras rebuild of this Keras 3 model disagrees with it by {diff:.3g} "
                         f"(allowed {AGREEMENT_ATOL}); refusing to continue")
    return diff


def rebuild(model, unsafe: bool = False, check: bool = True, custom: dict | None = None):
    """A tf_keras model equivalent to the Keras 3 `model`; its outputs are checked to agree.
    `custom` maps a Keras 3 layer class name to the tf_keras class that replaces it."""
    custom = custom or {}
    if type(model).__name__ == "Sequential":
        rebuilt, pairs = _rebuild_sequential(model, unsafe, custom)
    else:
        rebuilt, pairs = _rebuild_functional(model, unsafe, custom)
    _copy_weights(pairs)
    if check:
        check_agreement(model, rebuilt)
    return rebuilt


def _drop_build_configs(config) -> bool:
    """Removes, in place, the build_config of every layer defined outside Keras; True if any was there."""
    found = False
    if isinstance(config, dict):
        if not str(config.get("module", "keras")).startswith("keras.") and "build_config" in config:
            del config["build_config"]
            found = True
        return any([_drop_build_configs(v) for v in config.values()]) or found
    if isinstance(config, list):
        return any([_drop_build_configs(v) for v in config])
    return False


def loadable_file(path) -> None:
    """Makes a .keras file Keras 3 just wrote for a functional model load again. Keras 3 builds each layer
    from its saved build_config, whose input shape JSON gives back as a list, and some packages' build()
    add a tuple to it (KerasHub's SpatialPyramidPooling): such a file fails to load. In a functional graph
    every layer is built when it is called on its inputs anyway, so those of layers defined outside Keras
    are dropped (the file is rewritten in place, entry by entry)."""
    import json
    import os
    import shutil
    import zipfile
    from pathlib import Path

    path = Path(path)
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    if not _drop_build_configs(config.get("config", {}).get("layers", [])):
        return
    fixed = path.with_name(f"{path.name}.rewrite")
    try:
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(fixed, "w") as target:
            for info in source.infolist():
                if info.filename == "config.json":
                    target.writestr(info, json.dumps(config))
                    continue
                with source.open(info) as read, target.open(info, "w") as write:
                    shutil.copyfileobj(read, write)
        os.replace(fixed, path)
    finally:
        fixed.unlink(missing_ok=True)


def load_custom_objects(path) -> tuple[dict, dict]:
    """Runs a user's --custom-objects file; returns (Keras 3 classes, tf_keras classes) by name.
    The Keras 3 classes are remembered, so that a copy of a layer carried as it is can be made
    again later in this process (channel pruning, a cached candidate reloaded)."""
    import runpy
    from pathlib import Path

    import keras
    import tf_keras

    from .keras3_island import remember

    if not Path(path).is_file():
        raise UsageError(f"--custom-objects file not found: {path}")
    try:
        namespace = runpy.run_path(str(path))
    except (Exception, SystemExit) as exc:  # the user's own code; sys.exit() there must not end edgeseg
        raise UsageError(f"--custom-objects {path} failed to run: {type(exc).__name__}: {first_line(exc)}") from None
    classes = [v for v in namespace.values() if inspect.isclass(v)]
    keras3 = {c.__name__: c for c in classes if issubclass(c, keras.layers.Layer)}
    legacy = {c.__name__: c for c in classes if issubclass(c, tf_keras.layers.Layer)}
    remember(keras3)
    return keras3, legacy


def load_keras3(path, unsafe: bool = False, custom_objects_file=None, keep: bool = False):
    """Loads a Keras 3 file with Keras 3 and returns its tf_keras rebuild, or with `keep` the Keras 3
    model itself (as_tf_keras rebuilds it later, only if tfmot is needed). Classes that an
    installed package registers (KerasHub's) load without --custom-objects."""
    from ..backend import keras as tf_keras_module

    tf_keras_module()  # TF_USE_LEGACY_KERAS must be set before Keras 3 imports TensorFlow
    import keras

    keras3_classes, legacy_classes = load_custom_objects(custom_objects_file) if custom_objects_file else ({}, {})
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=not unsafe, custom_objects=keras3_classes)
    except Exception as exc:  # Keras 3 reports a foreign or custom file in many ways
        text = first_line(exc)
        if "Lambda" in text or "safe_mode" in text:
            raise UsageError(f"{path} contains a Lambda layer: it runs arbitrary Python stored in the file, so "
                             "it is refused; pass --unsafe only for a file you trust") from None
        found = UNKNOWN_CLASS.search(str(exc))
        if found or "Could not locate" in text or "Unknown layer" in text:
            name = (found.group(1) or found.group(2)) if found else "?"
            raise ModelError(f"cannot load {path}: it uses the custom layer class {name}; give --custom-objects "
                             f"my_layers.py, a file defining the Keras 3 class {name} (Keras said: "
                             f"{text[:200]})") from exc
        raise ModelError(f"cannot load {path}: {type(exc).__name__}: {text[:300]}") from exc
    if keep:
        _LOADED[model] = (unsafe, legacy_classes)
        return model
    return rebuild(model, unsafe, custom=legacy_classes)
