"""Checks of paths and options that need no TensorFlow, run before it is imported, so a
mistyped path fails in a fraction of a second instead of after TensorFlow's start-up."""
from __future__ import annotations

from pathlib import Path

from .errors import DataError, ModelError, UsageError

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")


def check_model_file(path: Path) -> None:
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    if path.suffix not in MODEL_SUFFIXES:
        raise ModelError(f"unsupported model format {path.suffix!r}: give a .keras or .h5 file")
    if path.stat().st_size == 0:
        raise ModelError(f"model file is empty: {path}")


def check_data_source(source: str | None) -> None:
    """None (decided later) and 'synthetic' are always valid; anything else must be a directory."""
    if source in (None, "synthetic"):
        return
    if not Path(source).is_dir():
        raise DataError(f"data directory not found: {source}")


def check_custom_objects(path: str | None) -> None:
    if path is not None and not Path(path).is_file():
        raise UsageError(f"--custom-objects file not found: {path}")


def check_existing(paths, what: str = "not found") -> None:
    for path in paths:
        if not Path(path).exists():
            raise UsageError(f"{what}: {path}")


def check_formats(formats: tuple[str, ...], known: tuple[str, ...]) -> None:
    unknown = [f for f in formats if f not in known]
    if unknown or not formats:
        raise UsageError(f"--formats takes a comma-separated list of {', '.join(known)}; got {','.join(formats)!r}")


def check_compress_inputs(model: Path, data: str | None, out: Path, force: bool, custom_objects: str | None) -> None:
    """Everything compress can check before loading anything heavy."""
    from .outputs import check_output_dir

    check_output_dir(Path(out), force, inputs=(model, data, custom_objects))  # never over an input
    check_model_file(model)
    check_data_source(data)
    check_custom_objects(custom_objects)
