"""Saving and loading models together with their preprocessing spec.

The spec travels inside the model file (an `edgeseg.json` entry in the .keras zip, an HDF5
attribute in .h5), so later commands need no extra flags and nothing can get separated.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

from ..config import PreprocessSpec
from ..errors import ModelError, OutputExistsError, UsageError
from ..safety import publish, temp_sibling
from .inspect_config import inspect_stored_config

SPEC_ENTRY = "edgeseg.json"
SPEC_ATTR = "edgeseg_spec"
TRAINED_ON = "trained_on"  # stored beside the spec fields; PreprocessSpec.from_dict ignores it


def save_model(model, spec: PreprocessSpec, path: Path, force: bool = False, trained_on: dict | None = None) -> Path:
    """Atomically writes a .keras (or .h5) file of the model's Keras that carries its spec and, for models
    edgeseg trained, the data they were trained on (`trained_on`, a DataConfig as a dict)."""
    meta = spec.to_dict() | ({TRAINED_ON: trained_on} if trained_on else {})
    path = Path(path)
    if path.suffix not in (".keras", ".h5"):
        raise ModelError(f"model path must end in .keras or .h5: {path}")
    if path.exists() and not force:
        raise OutputExistsError(f"{path} exists; pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(path, directory=False)  # a name a later run recognises and sweeps
    tmp.unlink()  # Keras writes the file itself
    try:
        model.save(tmp)
        if path.suffix == ".keras":
            from .keras3 import is_keras3, loadable_file

            if is_keras3(model):
                loadable_file(tmp)
            with zipfile.ZipFile(tmp, "a") as archive:
                archive.writestr(SPEC_ENTRY, json.dumps(meta))
        else:
            import h5py

            with h5py.File(tmp, "a") as h5:
                h5.attrs[SPEC_ATTR] = json.dumps(meta)
        publish(tmp, path, force)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _keras_archive_info(path: Path) -> tuple[str, dict | None]:
    """(keras version that wrote it, stored spec or None)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "config.json" not in names or "model.weights.h5" not in names:
                raise ModelError(f"{path} is a zip archive but not a Keras model (no config.json / weights)")
            meta = _json_object(path, archive, "metadata.json") if "metadata.json" in names else {}
            spec = _json_object(path, archive, SPEC_ENTRY) if SPEC_ENTRY in names else None
    except zipfile.BadZipFile:
        raise ModelError(f"{path} is not a valid .keras file (not a zip archive, or truncated)") from None
    return str(meta.get("keras_version", "unknown")), spec


def _json_object(path: Path, archive: zipfile.ZipFile, entry: str) -> dict:
    """One JSON-object entry of a .keras archive; anything else (not UTF-8, not JSON, a list)
    is a ModelError naming the entry, never a decoding traceback."""
    try:
        value = json.loads(archive.read(entry).decode("utf-8"))
    except UnicodeDecodeError:
        raise ModelError(f"{path} has corrupt metadata: {entry} is not UTF-8 text") from None
    except (json.JSONDecodeError, KeyError) as exc:
        raise ModelError(f"{path} has corrupt metadata: {entry} is not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ModelError(f"{path} has corrupt metadata: {entry} is a JSON {type(value).__name__}, not an object")
    return value


def _h5_info(path: Path) -> tuple[str, dict | None]:
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            if "model_config" not in h5.attrs:
                raise ModelError(f"{path} is an HDF5 file without a model config (weights only?)")
            version = h5.attrs.get("keras_version", "unknown")
            raw = h5.attrs.get(SPEC_ATTR)
    except OSError as exc:
        raise ModelError(f"{path} is not a readable HDF5 model: {exc}") from None
    version = version.decode() if isinstance(version, bytes) else str(version)
    return version, (json.loads(raw) if raw is not None else None)


def stored_spec(path: Path) -> dict | None:
    """The preprocessing spec edgeseg stored in a model file, read without TensorFlow."""
    path = Path(path)
    if path.suffix == ".keras":
        return _keras_archive_info(path)[1]
    return _h5_info(path)[1]


def stored_training_data(path: Path) -> dict | None:
    """The DataConfig (as a dict) edgeseg recorded when it trained this model, or None."""
    stored = stored_spec(path)
    return stored.get(TRAINED_ON) if stored else None


def check_segmentation_model(model) -> tuple[int, int, int, int]:
    """(height, width, channels, classes) or a ModelError saying why it is not a segmentation net."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelError(f"a segmentation model has one input and one output; this one has "
                         f"{len(model.inputs)} inputs and {len(model.outputs)} outputs")
    inp, out = tuple(model.inputs[0].shape), tuple(model.outputs[0].shape)
    if len(inp) != 4 or None in inp[1:]:
        raise ModelError(f"model input must be (batch, height, width, channels) with a fixed size, got {inp}")
    if len(out) != 4 or out[1:3] != inp[1:3]:
        raise ModelError(f"model output {out} is not a per-pixel map of the input size {inp[1:3]}: "
                         "not a segmentation model")
    return int(inp[1]), int(inp[2]), int(inp[3]), int(out[3])


def load_model(path, normalize: str | None = None, unsafe: bool = False, custom_objects=None,
               keep_keras3: bool = False):
    """Returns (model, PreprocessSpec). `normalize` applies only to files without a spec. Keras 3
    files are rebuilt as equivalent tf_keras models (see models/keras3.py), unless `keep_keras3`:
    then the Keras 3 model itself is returned, for paths that need no tensorflow-model-optimization
    (evaluation, PTQ, export); models.keras3.as_tf_keras rebuilds it when one does."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    if path.stat().st_size == 0:
        raise ModelError(f"model file is empty: {path}")
    if path.suffix == ".keras":
        version, stored = _keras_archive_info(path)
    elif path.suffix in (".h5", ".hdf5"):
        version, stored = _h5_info(path)
    else:
        raise ModelError(f"unsupported model format {path.suffix!r}: give a .keras or .h5 file")
    major = version.split(".")[0]
    if major.isdigit() and int(major) > 3:
        raise ModelError(f"{path} was written by Keras {version}, newer than the Keras 3 this edgeseg reads")
    # Before anything is deserialized: tf_keras ignores safe_mode for .h5, so a Lambda would run.
    custom_names = inspect_stored_config(path, unsafe)
    if major == "3":
        from .keras3 import load_keras3

        model = load_keras3(path, unsafe, custom_objects, keep=keep_keras3)
    else:
        from .keras2_custom import load_keras2

        model = load_keras2(path, unsafe, custom_objects, custom_names)
    height, width, channels, out_channels = check_segmentation_model(model)
    if stored is not None:
        spec = PreprocessSpec.from_dict(stored)
        if (spec.height, spec.width, spec.channels) != (height, width, channels):
            raise ModelError(f"{path}: stored preprocessing spec does not match the model's input shape")
        if normalize is not None and normalize != spec.normalize:
            raise UsageError(f"{path} was trained with normalize {spec.normalize}; --normalize {normalize} "
                             "would feed it different inputs (leave the option out)")
    else:
        spec = PreprocessSpec(height, width, channels, normalize or "0-1",
                              classes=1 if out_channels == 1 else out_channels)
    return model, spec
