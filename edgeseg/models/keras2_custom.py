"""Loading a Keras 2 (tf_keras) file: --custom-objects honoured, and a custom layer that is
missing named with the flag that supplies it, whatever wording Keras used."""
from __future__ import annotations

from pathlib import Path

from ..errors import ModelError, first_line
from .keras3 import UNKNOWN_CLASS, load_custom_objects
from .keras3_island import CLASS_NAME as ISLAND

MODEL_CLASSES = ("Functional", "Sequential", "Model")


def _missing_custom(names: set[str], custom: dict) -> list[str]:
    """Layer classes in the file that neither tf_keras nor the --custom-objects file defines."""
    import tf_keras

    return sorted(n for n in names if n not in custom and n not in MODEL_CLASSES
                  and not hasattr(tf_keras.layers, n) and n[:1].isupper() and _is_layer_name(n))


def _is_layer_name(name: str) -> bool:
    import tf_keras

    known_elsewhere = (tf_keras.initializers, tf_keras.regularizers, tf_keras.constraints, tf_keras.mixed_precision)
    return not any(hasattr(module, name) for module in known_elsewhere) and not name.endswith("Policy")


def load_keras2(path: Path, unsafe: bool, custom_objects_file, layer_classes: set[str]):
    from ..backend import keras

    custom: dict = {}
    if custom_objects_file:
        _, custom = load_custom_objects(custom_objects_file)
    if ISLAND in layer_classes:  # a Keras 3 layer edgeseg carried as it is (keras3_island.py)
        from .keras3_island import custom_objects

        custom = {**custom, **custom_objects()}
    try:
        return keras().models.load_model(path, compile=False, safe_mode=not unsafe, custom_objects=custom)
    except Exception as exc:  # a foreign file can fail deep inside Keras in many ways
        text = first_line(exc)
        missing = _missing_custom(layer_classes, custom)
        found = UNKNOWN_CLASS.search(str(exc))
        name = missing[0] if missing else (found.group(1) or found.group(2)) if found else None
        if name:
            raise ModelError(f"cannot load {path}: it uses the custom layer class {name}; give --custom-objects "
                             f"my_layers.py, a file defining a tf_keras layer class named {name} (Keras said: "
                             f"{text[:200]})") from exc
        raise ModelError(f"cannot load {path}: {type(exc).__name__}: {text[:300]}") from exc
