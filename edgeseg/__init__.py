"""edgeseg: take an image-segmentation model from training to the edge.

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
    "evaluate_predictor": "edgeseg.evaluate",
    "compress": "edgeseg.compress.pipeline",
    "BenchConfig": "edgeseg.config",
    "bench": "edgeseg.bench.run",
    "load_segmenter": "edgeseg.deploy.load",
    "Segmenter": "edgeseg.deploy.segmenter",
    "make_bundle": "edgeseg.deploy.bundle",
    "prune_channels": "edgeseg.compress.channels",
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str):
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'edgeseg' has no attribute {name!r}")


def __dir__():
    return __all__
