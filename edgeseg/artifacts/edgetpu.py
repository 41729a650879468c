"""Edge TPU readiness, checked anywhere from the .tflite file alone (no Edge TPU, no compiler
needed). The op table follows Coral's published list of supported
operations and their known limits; edgetpu_compiler stays the final word."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import EDGETPU_RUNTIME
from ..errors import ModelError, UsageError

# op -> (first Edge TPU runtime version that maps it, known limit checked or reported)
SUPPORTED = {
    "ADD": (10, ""), "SUB": (10, ""), "MUL": (10, ""), "MAXIMUM": (10, ""), "MINIMUM": (10, ""),
    "LOGISTIC": (10, ""), "TANH": (10, ""), "RELU": (10, ""), "RELU6": (10, ""), "RELU_N1_TO_1": (10, ""),
    "CONV_2D": (10, "same dilation in x and y"), "DEPTHWISE_CONV_2D": (10, "dilation needs runtime 13"),
    "FULLY_CONNECTED": (10, "default weights format; 1-D output"), "L2_NORMALIZATION": (10, ""),
    "AVERAGE_POOL_2D": (10, "no fused activation"), "MAX_POOL_2D": (10, "no fused activation"),
    "CONCATENATION": (10, "no fused activation"), "RESHAPE": (10, "large reshapes may not map"),
    "RESIZE_BILINEAR": (10, "3-D input/output; may stay on the CPU depending on sizes"),
    "RESIZE_NEAREST_NEIGHBOR": (10, "3-D input/output; may stay on the CPU depending on sizes"),
    "SOFTMAX": (10, "1-D input of at most 16,000 elements"), "SPACE_TO_DEPTH": (10, ""),
    "SLICE": (10, ""), "STRIDED_SLICE": (10, "strides of 1"), "SPLIT": (10, "not along the batch"),
    "PAD": (10, "not along the batch"), "MEAN": (10, "not along the batch"), "QUANTIZE": (10, ""),
    "PACK": (13, "not along the batch"), "EXPAND_DIMS": (13, ""), "SQUEEZE": (13, ""), "SUM": (13, ""),
    "TRANSPOSE_CONV": (13, ""), "PRELU": (13, "alpha varies along the last dimension only"),
    "HARD_SWISH": (13, ""), "REDUCE_MAX": (14, ""), "REDUCE_MIN": (14, ""), "RSQRT": (14, ""),
    "SQUARED_DIFFERENCE": (14, ""), "TRANSPOSE": (14, ""), "UNIDIRECTIONAL_SEQUENCE_LSTM": (14, ""),
}
# The op versions edgetpu_compiler 16 parses; newer versions fail with "Operation version not supported".
MAX_VERSION = {"RESIZE_NEAREST_NEIGHBOR": 2, "RESIZE_BILINEAR": 2}
RUNTIME_VERSIONS = tuple(range(10, 17))  # edgetpu_compiler -m accepts these (compress --edgetpu-runtime too)
INTEGER = {"INT8", "UINT8", "INT32"}  # INT32: biases and shape operands


@dataclass
class OpVerdict:
    index: int
    op: str
    version: int
    on_tpu: bool
    reason: str


@dataclass
class EdgeTPUReport:
    model: str
    runtime_version: int
    problems: list[str] = field(default_factory=list)  # whole-model blockers
    ops: list[OpVerdict] = field(default_factory=list)

    @property
    def cut(self) -> OpVerdict | None:
        """The first CPU op after the graph has reached the Edge TPU: the compiler partitions
        the graph once, so everything from there on runs on the CPU. CPU ops before the first
        Edge TPU op (a float-input QUANTIZE) only stay on the CPU themselves."""
        reached = False
        for verdict in self.ops:
            reached = reached or verdict.on_tpu
            if reached and not verdict.on_tpu:
                return verdict
        return None

    @property
    def ready(self) -> bool:
        return not self.problems and all(v.on_tpu for v in self.ops)


def _verdict(op, runtime_version: int) -> tuple[bool, str]:
    if op.name not in SUPPORTED:
        return False, "not an Edge TPU operation"
    since, _limit = SUPPORTED[op.name]
    if since > runtime_version:
        return False, f"needs Edge TPU runtime {since} (checking for {runtime_version}; use -m {since})"
    types = {t.type for t in op.inputs + op.outputs}
    if not types <= INTEGER:
        return False, f"not quantized ({', '.join(sorted(types - INTEGER))} tensors)"
    if op.version > MAX_VERSION.get(op.name, 99):
        extra = " (half_pixel_centers)" if op.options.get("halfPixelCenters") else ""
        return False, f"op version {op.version}{extra} is not supported by edgetpu_compiler"
    if op.options.get("fusedActivationFunction") and op.name in ("AVERAGE_POOL_2D", "MAX_POOL_2D", "CONCATENATION"):
        return False, "fused activation function"
    if op.name == "CONV_2D" and op.options.get("dilationWFactor") != op.options.get("dilationHFactor"):
        return False, "different dilation in x and y"
    dilation = max(op.options.get("dilationWFactor", 1), op.options.get("dilationHFactor", 1))
    if op.name == "DEPTHWISE_CONV_2D" and dilation > 1 and runtime_version < 13:
        return False, "dilated depthwise convolution needs runtime 13"
    if op.name == "SOFTMAX":
        shape = op.inputs[0].shape
        elements = 1
        for d in shape:
            elements *= d
        if sum(1 for d in shape if d > 1) > 1 or elements > 16000:
            return False, f"softmax over {'x'.join(map(str, shape))}: only 1-D inputs of <= 16,000 elements map"
    if op.name.startswith("RESIZE_"):
        (_, h_in, w_in, _), (_, h_out, w_out, _) = op.inputs[0].shape, op.outputs[0].shape
        if h_out % h_in or w_out % w_in:
            return True, "maps only for some sizes: this one is a fractional scale; check the compiler log"
    return True, ""


def check(path: Path, runtime_version: int = EDGETPU_RUNTIME) -> EdgeTPUReport:
    from .tflite import operators

    path = Path(path)
    if path.suffix.lower() != ".tflite" or not path.is_file():
        raise UsageError(f"edgetpu-check takes a .tflite file: {path}")
    try:
        ops, inputs, outputs = operators(path.read_bytes())
    except Exception as exc:  # the flatbuffer parser raises many kinds of errors on foreign files
        raise ModelError(f"{path} is not a readable .tflite model ({type(exc).__name__})") from None
    report = EdgeTPUReport(path.name, runtime_version)
    for tensor in inputs + outputs:
        if tensor.type not in ("INT8", "UINT8"):
            report.problems.append(f"{'input' if tensor in inputs else 'output'} {tensor.name} is {tensor.type}: "
                                   "use the int8-I/O artifact (model_int8.tflite); float I/O adds CPU ops at the edges")
    for tensor in {t for op in ops for t in op.inputs + op.outputs} | set(inputs):
        if -1 in tensor.signature:
            report.problems.append(f"dynamic shape {tensor.signature} ({tensor.name}): the compiler needs static "
                                   "shapes; export with a fixed batch of 1")
            break
    batch = inputs[0].shape[0] if inputs and inputs[0].shape else 1
    if batch != 1:
        report.problems.append(f"batch {batch}: tensors may have only their 3 innermost dimensions > 1")
    for op in ops:
        on_tpu, reason = _verdict(op, runtime_version)
        report.ops.append(OpVerdict(op.index, op.name, op.version, on_tpu, reason))
    return report


def render(report: EdgeTPUReport) -> str:
    lines = [f"{report.model}: Edge TPU check (runtime version {report.runtime_version})"]
    lines += [f"  problem: {p}" for p in report.problems]
    counts: dict[tuple[str, bool, str], int] = {}
    for v in report.ops:
        key = (v.op, v.on_tpu, v.reason)
        counts[key] = counts.get(key, 0) + 1
    lines.append(f"  {'operator':<26} {'count':>5}  status")
    for (op, on_tpu, reason), n in counts.items():
        lines.append(f"  {op:<26} {n:>5}  {'Edge TPU' if on_tpu else 'CPU'}{': ' + reason if reason else ''}")
    cut = report.cut
    if cut is not None:
        after = sum(1 for v in report.ops if v.index > cut.index)
        lines.append(f"  op #{cut.index} {cut.op} runs on the CPU; the compiler cuts the graph there, so the "
                     f"{after} op(s) after it run on the CPU too")
    lines.append("  ready: every op maps to the Edge TPU" if report.ready else "  not ready: see above")
    return "\n".join(lines)
