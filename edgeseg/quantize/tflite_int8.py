"""Full-integer TFLite conversion: int8 and int16x8 activations, one shared calibration, and
selective quantization (sensitive layers kept in float) through TF's QuantizationDebugger."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from ..backend import tf
from ..export.tflite import converter_for, quiet


@dataclass(frozen=True)
class QuantSpec:
    """How to quantize: activations 'int8' or 'int16' (16x8), integer or float I/O."""

    activations: str = "int8"
    integer_io: bool = True
    denylisted_nodes: tuple[str, ...] = ()


def representative(images: np.ndarray) -> Callable[[], Iterable[list[np.ndarray]]]:
    return lambda: ([images[i:i + 1].astype(np.float32)] for i in range(len(images)))


def integer_converter(model, calibration: np.ndarray, spec: QuantSpec, sparse: bool = False):
    tf_ = tf()
    converter = converter_for(model)
    converter.optimizations = [tf_.lite.Optimize.DEFAULT]
    if sparse:
        converter.optimizations.append(tf_.lite.Optimize.EXPERIMENTAL_SPARSITY)
    converter.representative_dataset = representative(calibration)
    if spec.activations == "int16":
        ops = tf_.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        io_type = tf_.int16
    else:
        ops = tf_.lite.OpsSet.TFLITE_BUILTINS_INT8
        io_type = tf_.int8
    # Keeping layers in float needs float kernels beside the integer ones.
    converter.target_spec.supported_ops = [ops] + ([tf_.lite.OpsSet.TFLITE_BUILTINS] if spec.denylisted_nodes else [])
    if spec.integer_io:
        converter.inference_input_type = io_type
        converter.inference_output_type = io_type
    return converter


@quiet
def convert_integer(model, calibration: np.ndarray, spec: QuantSpec = QuantSpec(), sparse: bool = False) -> bytes:
    if spec.denylisted_nodes:
        return _convert_selective(model, calibration, spec)
    return integer_converter(model, calibration, spec, sparse).convert()


@quiet
def calibrate(model, calibration: np.ndarray) -> bytes:
    """Runs the calibration once and returns the float model annotated with activation ranges.
    This is the two-stage path TF's QuantizationDebugger takes: calibrating dominates the cost
    (11.7 s of an 11.6 s one-stage int8 conversion of the seed U-Net), quantizing a calibrated
    model takes 0.15 s, so the int8-I/O and float-I/O variants share one calibration."""
    converter = integer_converter(model, calibration, QuantSpec(integer_io=False))
    converter._experimental_calibrate_only = True  # noqa: SLF001 - no public two-stage API
    return converter.convert()


@quiet
def quantize_calibrated(calibrated: bytes, integer_io: bool = True, float_nodes: tuple[str, ...] = ()) -> bytes:
    """Full-integer int8 model from a calibrated model, with int8 or float input/output;
    `float_nodes` (op output tensor names, see head_nodes) stay in float."""
    from tensorflow.lite.python import convert

    io_type = tf().int8 if integer_io else tf().float32
    # The same call TFLiteConverter makes after calibrating; the I/O types decide integer I/O.
    return convert.mlir_quantize(calibrated, disable_per_channel=False,
                                 input_data_type=io_type, output_data_type=io_type,
                                 denylisted_nodes=list(float_nodes) or None)


def first_conv_nodes(calibrated: bytes) -> tuple[str, ...]:
    """The output tensor names of the first convolution and the ops up to the next weighted op
    (the layer group of quantize/sensitivity.py): at full resolution with few input channels,
    XNNPACK's int8 convolution costs ~4x its float one (benchmarks/precision_for_speed.py)."""
    from ..artifacts.tflite import operators

    ops, _, _ = operators(calibrated)
    weighted = [i for i, op in enumerate(ops) if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV")]
    if not weighted:
        raise ValueError("the model has no convolution to keep in float")
    end = weighted[1] if len(weighted) > 1 else len(ops)
    return tuple(t.name for op in ops[weighted[0]:end] for t in op.outputs)


def head_nodes(calibrated: bytes) -> tuple[str, ...]:
    """The output tensor names of the last convolution (the 1x1 head) and every op after it
    (its activation), in a calibrated model: what keeping the head in float denylists."""
    from ..artifacts.tflite import operators

    ops, _, _ = operators(calibrated)
    last = max((i for i, op in enumerate(ops) if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D")), default=None)
    if last is None:
        raise ValueError("the model has no convolution to keep in float")
    return tuple(t.name for op in ops[last:] for t in op.outputs)


@quiet
def sensitive_layers(model, calibration: np.ndarray, count: int) -> list[str]:
    """The `count` layers with the largest quantization error relative to their scale
    (RMSE / scale), as measured by QuantizationDebugger on the calibration data."""
    tf_ = tf()
    converter = integer_converter(model, calibration, QuantSpec(integer_io=False))
    debugger = tf_.lite.experimental.QuantizationDebugger(converter=converter,
                                                          debug_dataset=representative(calibration))
    debugger.run()
    # The per-tensor scale is only in the CSV dump, not in layer_statistics.
    dump = io.StringIO()
    debugger.layer_statistics_dump(dump)
    dump.seek(0)
    errors = {row["tensor_name"]: np.sqrt(float(row["mean_squared_error"])) / float(row["scale"])
              for row in csv.DictReader(dump) if float(row.get("scale") or 0) > 0}
    return sorted(errors, key=errors.get, reverse=True)[:count]


def _convert_selective(model, calibration: np.ndarray, spec: QuantSpec) -> bytes:
    tf_ = tf()
    converter = integer_converter(model, calibration, spec)
    options = tf_.lite.experimental.QuantizationDebugOptions(denylisted_nodes=list(spec.denylisted_nodes))
    debugger = tf_.lite.experimental.QuantizationDebugger(converter=converter,
                                                          debug_dataset=representative(calibration),
                                                          debug_options=options)
    return debugger.get_nondebug_quantized_model()
