"""Nearest upsampling that stays inside XNNPACK, applied when LiteRT loads a model on the CPU.

XNNPACK (ai-edge-litert 2.3) takes no RESIZE_NEAREST_NEIGHBOR, so each decoder upsampling of
a U-Net falls back to the built-in kernel and splits the graph: 3 upsamplings, 4 delegate
partitions (`edgeseg bench --profile` shows it). Upsampling by whole factors (kh, kw) is the
same as copying: CONCATENATION of kw copies on the channel axis, RESHAPE to (H, kw*W, C),
CONCATENATION of kh copies on the width axis, RESHAPE to (kh*H, kw*W, C) gives exactly the
resize's output (same bytes), and XNNPACK runs both ops, so the graph stays one partition.

The file on disk keeps RESIZE_NEAREST_NEIGHBOR: the Edge TPU compiler maps it natively, and
the file's bytes and hash stay what compress wrote. Only the CPU interpreter's copy changes.
"""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from ..artifacts.tflite import _drop_unused_opcodes, _opcode_index, _pack, _schema, _unpack  # noqa: PLC2701


def _factors(graph, op) -> tuple[int, int] | None:
    """(kh, kw) when the op upsamples a 4-D tensor by whole factors with one quantization."""
    options = op.builtinOptions
    if options is None or options.alignCorners:
        return None  # align_corners samples x * (H - 1) / (kh * H - 1): not a copy
    src, dst = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if src.shape is None or dst.shape is None or len(src.shape) != 4 or len(dst.shape) != 4:
        return None
    (n, h, w, c), (n2, h2, w2, c2) = list(src.shape), list(dst.shape)
    if min(h, w) < 1 or (n, c) != (n2, c2) or h2 % h or w2 % w:
        return None

    def params(t):
        q = t.quantization
        return None if q is None else (tuple(q.scale if q.scale is not None else ()),
                                       tuple(q.zeroPoint if q.zeroPoint is not None else ()))

    if params(src) != params(dst) or src.type != dst.type:
        return None  # a concatenation cannot requantize for free
    return h2 // h, w2 // w


class _Builder:
    def __init__(self, model):
        self.model, self.graph, self.schema = model, model.subgraphs[0], _schema()

    def opcode(self, builtin: int) -> int:
        code = self.schema.OperatorCodeT()
        code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), 1
        return _opcode_index(self.model, code)

    def _add(self, tensor, data: bytes | None = None) -> int:
        buffer = self.schema.BufferT()
        if data is not None:
            buffer.data = np.frombuffer(data, np.uint8)
        self.model.buffers.append(buffer)
        tensor.buffer = len(self.model.buffers) - 1
        self.graph.tensors.append(tensor)
        return len(self.graph.tensors) - 1

    def like(self, index: int, shape: list[int], suffix: str) -> int:
        tensor = copy.deepcopy(self.graph.tensors[index])
        tensor.shape, tensor.shapeSignature = np.array(shape, np.int32), None
        name = tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)
        tensor.name = f"{name}/{suffix}"
        return self._add(tensor)

    def shape_constant(self, shape: list[int], name: str) -> int:
        tensor = self.schema.TensorT()
        tensor.shape, tensor.type, tensor.name = np.array([len(shape)], np.int32), self.schema.TensorType.INT32, name
        return self._add(tensor, np.array(shape, "<i4").tobytes())

    def op(self, builtin: int, inputs: list[int], outputs: list[int], options) -> object:
        op = self.schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = self.opcode(builtin), np.array(inputs, np.int32), np.array(outputs, np.int32)
        kind = self.schema.BuiltinOptions
        op.builtinOptionsType = kind.ConcatenationOptions if builtin == self.schema.BuiltinOperator.CONCATENATION \
            else kind.ReshapeOptions
        op.builtinOptions = options
        return op

    def concat(self, source: int, copies: int, axis: int, output: int):
        options = self.schema.ConcatenationOptionsT()
        options.axis = axis
        return self.op(self.schema.BuiltinOperator.CONCATENATION, [source] * copies, [output], options)

    def reshape(self, source: int, shape: list[int], output: int):
        options = self.schema.ReshapeOptionsT()
        options.newShape = np.array(shape, np.int32)
        name = self.graph.tensors[output].name
        constant = self.shape_constant(shape, f"{name.decode() if isinstance(name, bytes) else name}/shape")
        return self.op(self.schema.BuiltinOperator.RESHAPE, [source, constant], [output], options)

    def upsample(self, op, kh: int, kw: int) -> list:
        src, dst = int(op.inputs[0]), int(op.outputs[0])
        n, h, w, c = (int(v) for v in self.graph.tensors[src].shape)
        wide, rows, tall = [n, h, w, kw * c], [n, h, kw * w, c], [n, h, kh * kw * w, c]
        ops, current = [], src
        if kw > 1:
            a, b = self.like(src, wide, "up_w_concat"), self.like(src, rows, "up_w")
            ops += [self.concat(current, kw, 3, a), self.reshape(a, rows, b)]
            current = b
        tall_tensor = self.like(src, tall, "up_h_concat") if kh > 1 else None
        if kh > 1:
            ops.append(self.concat(current, kh, 2, tall_tensor))
            current = tall_tensor
        ops.append(self.reshape(current, [n, kh * h, kw * w, c], dst))
        return ops


def _uses(model, builtin: int) -> bool:
    """Whether the model's operator table lists `builtin` (read in place: no unpacking)."""
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) == builtin:
            return True
    return False


def _external_buffers(model) -> bool:
    """Whether some buffer lives after the flatbuffer (offset/size, as litert-quantizer writes
    large models): unpacking and packing again would drop those bytes."""
    return any(model.Buffers(i).Offset() > 1 for i in range(model.BuffersLength()))


def xnnpack_upsampling(data: bytes) -> tuple[bytes, int]:
    """(model, number of RESIZE_NEAREST_NEIGHBOR ops replaced by copies); the model unchanged
    when there is none to replace."""
    schema = _schema()
    resize = schema.BuiltinOperator.RESIZE_NEAREST_NEIGHBOR
    root = schema.Model.GetRootAsModel(data, 0)
    if not _uses(root, resize):
        return data, 0  # unpacking a model costs a few hundred ms: only when there is work
    if _external_buffers(root):
        return data, 0  # runs as written (the built-in resize), rather than losing its weights
    model = _unpack(data)
    builder = _Builder(model)
    operators, replaced = [], 0
    for op in builder.graph.operators or []:
        code = model.operatorCodes[op.opcodeIndex]
        factors = _factors(builder.graph, op) if max(code.builtinCode, code.deprecatedBuiltinCode) == resize else None
        if factors is None:
            operators.append(op)
            continue
        operators += builder.upsample(op, *factors)
        replaced += 1
    if not replaced:
        return data, 0
    builder.graph.operators = operators
    _drop_unused_opcodes(model)
    return _pack(model, len(data) + 4096), replaced


def cpu_model(path: Path) -> tuple[bytes, int]:
    """The model as LiteRTSession gives it to the CPU interpreter, and how many upsamplings
    were replaced."""
    return xnnpack_upsampling(Path(path).read_bytes())
