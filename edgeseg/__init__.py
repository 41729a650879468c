"""edgeseg: take an image-segmentation model to the edge (prune, int8-quantize, export TFLite
and ONNX, verify every artifact in its runtime, benchmark, deploy).

In a notebook (TensorFlow may already be imported; your tf.keras is left as it is):

    import edgeseg
    report = edgeseg.compress("model.keras", data="data/")   # out: model_edgeseg/ beside the model
    print(report)                        # the verdict: what to ship per format, what was rejected
    report.recommended["tflite"]         # Recommendation(path='model_int8.tflite', dice=..., bytes=...)
    seg = edgeseg.load_segmenter(report.path("tflite"))
    mask = seg.predict(image).mask       # no TensorFlow needed on the device

`data` is a directory with images/ and masks/ (or train/ and val/), "synthetic", or left out:
models edgeseg trained record their data; for other models the artifacts are then judged only
by agreement with the float model. Other options are CompressConfig fields, e.g.
formats=("tflite",), prune="none", max_dice_drop=0.02, force=True.

The public API is loaded lazily so that `import edgeseg` stays light: TensorFlow, tf_keras
and onnxruntime are imported only by the functions that need them.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_API = {
    "PreprocessSpec": "edgeseg.config",
    "ModelConfig": "edgeseg.config",
    "DataConfig": "edgeseg.config",
    "TrainConfig": "edgeseg.config",
    "CompressConfig": "edgeseg.config",
    "EdgesegError": "edgeseg.errors",
    "build_model": "edgeseg.models.registry",
    "load_model": "edgeseg.models.io",
    "save_model": "edgeseg.models.io",
    "load_splits": "edgeseg.data.dataset",
    "train": "edgeseg.training",
    "evaluate_predictor": "edgeseg.scoring.predictors",
    "CompressResult": "edgeseg.api",
    "CompressReport": "edgeseg.artifacts.compress_report",
    "read_compress_report": "edgeseg.artifacts.compress_report",
    "BenchConfig": "edgeseg.config",
    "load_segmenter": "edgeseg.deploy.load",
    "Segmenter": "edgeseg.deploy.segmenter",
    "make_bundle": "edgeseg.deploy.bundle",
    "prune_channels": "edgeseg.prune.channels",
}

__all__ = sorted([*_API, "compress", "bench"]) + ["__version__"]


# Both packages and functions: the package module itself is callable (callable_package.py).
_CALLABLE_PACKAGES = {"compress", "bench"}


def __getattr__(name: str):
    if name in _CALLABLE_PACKAGES:
        return importlib.import_module(f"edgeseg.{name}")
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'edgeseg' has no attribute {name!r}")


def __dir__():
    return __all__
