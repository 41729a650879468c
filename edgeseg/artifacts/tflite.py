"""Reading and editing .tflite flatbuffers with the schema that ai-edge-litert ships: no
TensorFlow needed, so the device side can read what compress wrote into the model."""
from __future__ import annotations

import json
from dataclasses import dataclass

from ..config import SPEC_METADATA_KEY

_FILE_IDENTIFIER = b"TFL3"


def _schema():
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def _root(data: bytes):
    return _schema().Model.GetRootAsModel(bytearray(data), 0)


def read_metadata(data: bytes, name: str) -> bytes | None:
    model = _root(data)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name().decode() == name:
            return model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
    return None


def _unpack(data: bytes):
    return _schema().ModelT.InitFromPackedBuf(bytearray(data), 0)


def _pack(model, size_hint: int) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(size_hint + 1024)
    builder.Finish(model.Pack(builder), file_identifier=_FILE_IDENTIFIER)
    return bytes(builder.Output())


def _set_metadata(model, name: str, payload: bytes) -> None:
    import numpy as np

    schema = _schema()
    model.metadata = [m for m in (model.metadata or []) if m.name.decode() != name]
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(payload, dtype=np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = name, len(model.buffers) - 1
    model.metadata.append(entry)


def _spec_payload(spec: dict) -> bytes:
    return json.dumps(spec, sort_keys=True).encode()


def with_metadata(data: bytes, name: str, payload: bytes) -> bytes:
    """The same model with `payload` stored under `name` (replacing an earlier entry)."""
    model = _unpack(data)
    _set_metadata(model, name, payload)
    return _pack(model, len(data) + len(payload))


def with_spec(data: bytes, spec: dict) -> bytes:
    return with_metadata(data, SPEC_METADATA_KEY, _spec_payload(spec))


def read_spec(data: bytes) -> dict | None:
    raw = read_metadata(data, SPEC_METADATA_KEY)
    return json.loads(raw) if raw else None


def finalize(data: bytes, spec: dict) -> bytes:
    """What every .tflite edgeseg writes goes through, in one unpack and one pack: nearest
    upsampling by whole factors in the Edge TPU compiler's op version (identical results, see
    exact_nearest_upsampling), and the preprocessing spec stored as model metadata so the
    device needs nothing else."""
    model = _unpack(data)
    _rewrite_nearest_upsampling(model)
    payload = _spec_payload(spec)
    _set_metadata(model, SPEC_METADATA_KEY, payload)
    return _pack(model, len(data) + len(payload))


@dataclass(frozen=True)
class TensorInfo:
    name: str
    type: str  # "INT8", "FLOAT32", ...
    shape: tuple[int, ...]
    signature: tuple[int, ...]  # -1 where the size is dynamic
    scale: float | None = None  # per-tensor quantization, when the tensor has one
    zero_point: int | None = None


@dataclass(frozen=True)
class OpInfo:
    index: int
    name: str  # BuiltinOperator name, or the custom code
    version: int
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    options: dict


def _names(enum_class) -> dict[int, str]:
    return {v: k for k, v in vars(enum_class).items() if not k.startswith("_") and isinstance(v, int)}


def operators(data: bytes) -> tuple[list[OpInfo], list[TensorInfo], list[TensorInfo]]:
    """(operators of the main subgraph in execution order, model inputs, model outputs)."""
    schema = _schema()
    model = _unpack(data)
    op_names, type_names = _names(schema.BuiltinOperator), _names(schema.TensorType)
    graph = model.subgraphs[0]

    def tensor(i: int) -> TensorInfo:
        t = graph.tensors[i]
        shape = tuple(int(v) for v in (t.shape if t.shape is not None else ()))
        signature = tuple(int(v) for v in t.shapeSignature) if t.shapeSignature is not None else shape
        q = t.quantization
        scale = float(q.scale[0]) if q is not None and q.scale is not None and len(q.scale) == 1 else None
        zero = int(q.zeroPoint[0]) if scale is not None and q.zeroPoint is not None and len(q.zeroPoint) else None
        return TensorInfo(t.name.decode() if isinstance(t.name, bytes) else str(t.name), type_names.get(t.type, str(t.type)),
                          shape, signature, scale, zero)

    ops = []
    for index, op in enumerate(graph.operators or []):
        code = model.operatorCodes[op.opcodeIndex]
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        name = code.customCode.decode() if code.customCode else op_names.get(builtin, str(builtin))
        options = {k: v for k, v in vars(op.builtinOptions).items() if isinstance(v, (int, float, bool))} \
            if op.builtinOptions is not None else {}
        ops.append(OpInfo(index, name, int(code.version),
                          tuple(tensor(i) for i in op.inputs if i >= 0),
                          tuple(tensor(i) for i in op.outputs if i >= 0), options))
    return ops, [tensor(i) for i in graph.inputs], [tensor(i) for i in graph.outputs]


def exact_nearest_upsampling(data: bytes) -> tuple[bytes, int]:
    """Rewrites RESIZE_NEAREST_NEIGHBOR ops that upsample by whole factors from
    half_pixel_centers=True (op version 3, which edgetpu_compiler 14-16 reject with "Operation
    version not supported") to the legacy sampling (version 2 for int8). For a whole factor k,
    floor((x + 0.5) / k) == floor(x / k) for every output index x, so the result is identical.
    Returns (model, number of ops rewritten)."""
    model = _unpack(data)
    rewritten = _rewrite_nearest_upsampling(model)
    return (_pack(model, len(data)), rewritten) if rewritten else (data, 0)


def _rewrite_nearest_upsampling(model) -> int:
    schema = _schema()
    resize = schema.BuiltinOperator.RESIZE_NEAREST_NEIGHBOR
    rewritten = 0
    for graph in model.subgraphs:
        for op in graph.operators or []:
            code = model.operatorCodes[op.opcodeIndex]
            if max(code.builtinCode, code.deprecatedBuiltinCode) != resize:
                continue
            options = op.builtinOptions
            if options is None or not options.halfPixelCenters or options.alignCorners:
                continue
            src, dst = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
            (_, h_in, w_in, _), (_, h_out, w_out, _) = list(src.shape), list(dst.shape)
            if h_out % h_in or w_out % w_in:
                continue  # a fractional factor samples differently: leave it alone
            options.halfPixelCenters = False
            integer = src.type in (schema.TensorType.INT8, schema.TensorType.UINT8)
            legacy = schema.OperatorCodeT()
            legacy.builtinCode, legacy.deprecatedBuiltinCode = code.builtinCode, code.deprecatedBuiltinCode
            legacy.version = 2 if integer else 1
            op.opcodeIndex = _opcode_index(model, legacy)
            rewritten += 1
    if rewritten:
        _drop_unused_opcodes(model)
    return rewritten


def _opcode_index(model, wanted) -> int:
    for i, code in enumerate(model.operatorCodes):
        if (code.builtinCode, code.deprecatedBuiltinCode, code.version, code.customCode) == \
                (wanted.builtinCode, wanted.deprecatedBuiltinCode, wanted.version, None):
            return i
    model.operatorCodes.append(wanted)
    return len(model.operatorCodes) - 1


def _drop_unused_opcodes(model) -> None:
    """An opcode left in the table still has to be registered by whoever parses the model
    (edgetpu_compiler fails on an unknown version even when no op uses it)."""
    used = sorted({op.opcodeIndex for graph in model.subgraphs for op in graph.operators or []})
    remap = {old: new for new, old in enumerate(used)}
    model.operatorCodes = [model.operatorCodes[i] for i in used]
    for graph in model.subgraphs:
        for op in graph.operators or []:
            op.opcodeIndex = remap[op.opcodeIndex]


# op -> the input position of its filter (weights) tensor
FILTER_INPUT = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1, "TRANSPOSE_CONV": 1}
_BUFFER_DTYPES = {"FLOAT32": "<f4", "FLOAT16": "<f2", "INT8": "i1", "UINT8": "u1", "INT16": "<i2"}


def kernel_sparsity(data: bytes) -> float:
    """Share of exactly-zero weights over the convolution/dense filters, read from the file's
    buffers (through DEQUANTIZE ops where float16 weights are stored)."""
    import numpy as np

    schema, model = _schema(), _unpack(data)
    type_names = _names(schema.TensorType)
    op_names = _names(schema.BuiltinOperator)
    graph = model.subgraphs[0]

    def name(op) -> str:
        code = model.operatorCodes[op.opcodeIndex]
        return op_names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "")

    produced_by = {int(out): op for op in graph.operators or [] for out in op.outputs}
    zeros = total = 0
    for op in graph.operators or []:
        position = FILTER_INPUT.get(name(op))
        if position is None:
            continue
        index = int(op.inputs[position])
        source = produced_by.get(index)
        if source is not None and name(source) == "DEQUANTIZE":
            index = int(source.inputs[0])
        tensor = graph.tensors[index]
        raw = model.buffers[tensor.buffer].data
        dtype = _BUFFER_DTYPES.get(type_names.get(tensor.type, ""))
        if raw is None or dtype is None:
            continue
        weights = np.frombuffer(np.asarray(raw, np.uint8).tobytes(), dtype=dtype)
        zeros += int((weights == 0).sum())
        total += weights.size
    return zeros / total if total else 0.0
