"""describe(path): what an artifact file is, read from the file alone, without TensorFlow and
without loading a runtime: format, precision, input and output, the stored preprocessing
spec, size, gzip size and hash. Segmenter, bundle and bench ask here instead of keeping
their own per-format ladders."""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import ModelError
from .files import gzip_size, sha256

FORMATS = {".tflite": "tflite", ".onnx": "onnx", ".keras": "keras", ".h5": "keras"}
EDGETPU_SUFFIX = "_edgetpu.tflite"
# TFLite tensor type -> numpy dtype name; ONNX elem_type -> numpy dtype name
_TFLITE_DTYPES = {"FLOAT32": "float32", "FLOAT16": "float16", "INT8": "int8", "UINT8": "uint8", "INT16": "int16",
                  "INT32": "int32"}
_ONNX_DTYPES = {1: "float32", 10: "float16", 3: "int8", 2: "uint8", 5: "int16", 6: "int32"}


@dataclass(frozen=True)
class TensorDesc:
    name: str
    shape: tuple[int | None, ...]  # None where the size is dynamic
    dtype: str  # numpy name: float32, int8, ...
    scale: float | None = None  # integer tensors: real = scale * (q - zero_point)
    zero_point: int | None = None

    def to_dict(self) -> dict:
        return asdict(self) | {"shape": list(self.shape)}


@dataclass(frozen=True)
class ArtifactDesc:
    path: Path
    format: str  # tflite | onnx | edgetpu
    precision: str  # float32 | float16 | int8 | int16x8 | int8-weights
    bytes: int
    input: TensorDesc
    output: TensorDesc
    spec: dict | None  # the preprocessing spec stored in the file, if any

    @functools.cached_property
    def sha256(self) -> str:
        return sha256(self.path)

    @functools.cached_property
    def gzip_bytes(self) -> int:
        return gzip_size(self.path)


def artifact_format(path: Path) -> str | None:
    """'keras', 'tflite', 'onnx', or 'edgetpu' for models compiled by edgetpu_compiler."""
    if Path(path).name.lower().endswith(EDGETPU_SUFFIX):
        return "edgetpu"
    return FORMATS.get(Path(path).suffix.lower())


def _spec(path: Path, read) -> dict | None:
    try:
        spec = read()
    except ValueError:  # JSON or UTF-8 errors in a crafted file's metadata
        raise ModelError(f"{path}: its stored preprocessing spec is not JSON") from None
    if spec is not None and not isinstance(spec, dict):
        raise ModelError(f"{path}: its stored preprocessing spec is not a JSON object")
    return spec


def _tflite(path: Path) -> tuple[str, TensorDesc, TensorDesc, dict | None]:
    from .tflite import operators, read_spec

    data = path.read_bytes()
    ops, inputs, outputs = operators(data)

    def desc(t) -> TensorDesc:
        shape = tuple(None if s < 0 else int(s) for s in t.signature)
        return TensorDesc(t.name, shape, _TFLITE_DTYPES.get(t.type, t.type.lower()), t.scale, t.zero_point)

    activations = {t.type for op in ops for t in op.outputs}
    weights = {t.type for op in ops for t in op.inputs}
    if "INT16" in activations:
        precision = "int16x8"
    elif "INT8" in activations or "UINT8" in activations:
        precision = "int8"
    elif "INT8" in weights:
        precision = "int8-weights"
    else:
        precision = "float16" if "FLOAT16" in weights else "float32"
    return precision, desc(inputs[0]), desc(outputs[0]), _spec(path, lambda: read_spec(data))


def _onnx(path: Path) -> tuple[str, TensorDesc, TensorDesc, dict | None]:
    import onnx

    from .onnx import read_spec

    graph = onnx.load(str(path), load_external_data=False).graph

    def desc(value) -> TensorDesc:
        t = value.type.tensor_type
        shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)
        return TensorDesc(value.name, shape, _ONNX_DTYPES.get(t.elem_type, str(t.elem_type)))

    ops = {node.op_type for node in graph.node}
    precision = "int8" if ops & {"QuantizeLinear", "QLinearConv", "DequantizeLinear"} else "float32"
    return precision, desc(graph.input[0]), desc(graph.output[0]), _spec(path, lambda: read_spec(path))


# Keras files are read by edgeseg.models.io: their spec lives in the archive, and the device
# side never handles them.
READERS = {"tflite": _tflite, "edgetpu": _tflite, "onnx": _onnx}


def describe(path: Path) -> ArtifactDesc:
    """A ModelError when the file is not a readable model of its format."""
    path = Path(path)
    fmt = artifact_format(path)
    if fmt not in READERS:
        raise ModelError(f"{path}: not a deployable artifact (.tflite or .onnx)")
    if not path.is_file():
        raise ModelError(f"artifact not found: {path}")
    try:
        precision, inp, out, spec = READERS[fmt](path)
    except ModelError:
        raise
    except Exception as exc:  # parsers of foreign files raise many kinds of errors
        raise ModelError(f"{path} is not a readable {fmt} model ({type(exc).__name__})") from None
    return ArtifactDesc(path, fmt, precision, path.stat().st_size, inp, out, spec)
