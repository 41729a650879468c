"""Full-integer int8 TFLite through litert-quantizer (Google's maintained successor to the
converter's post-training quantization): per-channel int8 weights, per-tensor int8 activations
(MinMax), from the float .tflite file and the shared calibration images. No TensorFlow: it
reads and runs the float model in LiteRT.

Activation ranges: litert-quantizer's default keeps a moving average of each image's min/max (0.95
smoothing), which clips the widest images' ranges; the converter keeps the min and max over all
calibration images. Measured on the hand-annotated DSB tiles (benchmarks/lq_engine.py,
benchmarks/results/lq_engine.md), the global min/max is the one that never loses to the converter
(seed U-Net 0.94184 against 0.94176; the moving average 0.94084), so it is the default here; the
moving average is a calibration choice of its own (0.905 against 0.771 where an outlier channel
makes int8 hurt)."""
from __future__ import annotations

import functools
import os
import warnings

import numpy as np

from ..quiet import quiet_native_stderr

ENGINE = "litert-quantizer"
# How calibration merges each image's activation min/max into the range quantized (litert-quantizer's
# qsv_utils update functions, by name).
RANGES = {"min-max": "min_max_update", "moving-average": "moving_average_update"}


@functools.cache
def engine_label() -> str:
    """'litert-quantizer 0.11.0': what an artifact's record says made it."""
    from importlib.metadata import version

    return f"{ENGINE} {version('litert-quantizer')}"


def _signature(data: bytes) -> tuple[str, str]:
    """(signature key, its single input's name) of a float .tflite file."""
    from ..artifacts.tflite import _root  # noqa: PLC2701

    model = _root(data)
    if model.SignatureDefsLength() != 1 or model.SignatureDefs(0).InputsLength() != 1:
        raise ValueError("litert-quantizer needs a model with one signature of one input")
    signature = model.SignatureDefs(0)
    return signature.SignatureKey().decode(), signature.Inputs(0).Name().decode()


def inline_buffers(data: bytes) -> bytes:
    """The model with every buffer that lives after the flatbuffer (offset/size: litert-quantizer
    writes weights over 256 KiB so) moved inside it: every later step (the spec metadata, the
    upsampling rewrite of the CPU session, the Edge TPU compiler) unpacks and packs the flatbuffer,
    which keeps only inline buffers."""
    from ..artifacts.tflite import _pack, _unpack  # noqa: PLC2701

    model = _unpack(data)
    moved = 0
    for buffer in model.buffers or []:
        if (buffer.offset or 0) > 1:
            buffer.data = np.frombuffer(data, np.uint8, count=buffer.size, offset=buffer.offset).copy()
            moved += buffer.size
            buffer.offset = buffer.size = 0
    return _pack(model, len(data) + moved) if moved else data


def quantize_int8(float_tflite: bytes, calibration: np.ndarray, integer_io: bool = True,
                  ranges: str = "min-max") -> bytes:
    """Static int8 of a float .tflite file, calibrated on `calibration` (N, H, W, C) one image at a
    time with `ranges` (RANGES); int8 input/output, or (integer_io False) float ones with a
    QUANTIZE/DEQUANTIZE at the edges. The weights are inside the flatbuffer (inline_buffers)."""
    with warnings.catch_warnings(), quiet_native_stderr():
        # its per-op progress bar and the interpreter's "preserve_all_tensors is for debugging" warning
        warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors")
        return inline_buffers(_quantize(float_tflite, calibration, integer_io, ranges))


def _quantize(float_tflite: bytes, calibration: np.ndarray, integer_io: bool, ranges: str) -> bytes:
    from litert_quantizer import calibrator, quantizer, recipe, recipe_manager
    from litert_quantizer.algorithm_manager import AlgorithmName
    from litert_quantizer.qtyping import TFLOperationName
    from litert_quantizer.utils import qsv_utils

    key, name = _signature(float_tflite)
    engine = quantizer.Quantizer(bytearray(float_tflite), recipe.static_wi8_ai8())
    if not integer_io:
        for edge in (TFLOperationName.INPUT, TFLOperationName.OUTPUT):
            engine.update_quantization_recipe(".*", edge, algorithm_key=AlgorithmName.NO_QUANTIZE)
    # Quantizer.calibrate takes no range rule: the same steps, with the Calibrator given one.
    manager = recipe_manager.RecipeManager()
    manager.load_quantization_recipe(engine.get_quantization_recipe())
    calibration_run = calibrator.Calibrator(bytearray(float_tflite), num_threads=os.cpu_count() or 1,
                                            qsv_update_func=getattr(qsv_utils, RANGES[ranges]))
    images = np.asarray(calibration, np.float32)
    calibration_run.calibrate({key: [{name: images[i:i + 1]} for i in range(len(images))]}, manager)
    result = engine.quantize(calibration_run.get_model_qsvs(), enable_progress_report=False)
    return bytes(result.quantized_model)
