"""Per-op time on LiteRT, measured by running each op alone.

ai-edge-litert 2.3 exposes no op profiler to Python: the interpreter takes no profiler, and
the wheel ships no benchmark_model binary (its tools/benchmark_litert_model.py times whole
models only). So each op of the main subgraph is cut out into a one-op model (same tensors,
same weights, same quantization), loaded with the same interpreter settings (XNNPACK applied
by default) and timed on random inputs of its own types. Isolated ops miss cache effects
between neighbours and pay the interpreter's per-invoke cost once each, so the profile also
reports the whole model's time and the sum of the ops' times: their ratio says how far the
split can be trusted.

Whether an op runs inside XNNPACK is read from the whole model, not the isolated op: loaded
with delegate node fusion disabled, XNNPACK replaces each op it takes by one delegate node
writing the same tensors. Loaded normally, the number of delegate nodes is the number of
partitions the graph was split into.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..artifacts.tflite import OpInfo, operators
from .profile_timing import time_runs, whole_times

_DTYPES = {"INT8": np.int8, "UINT8": np.uint8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
           "FLOAT32": np.float32, "FLOAT16": np.float16, "BOOL": np.bool_}


def _interpreter(content: bytes, threads: int, **options):
    from ai_edge_litert.interpreter import Interpreter

    from ..quiet import quiet_native_stderr

    with quiet_native_stderr():
        interpreter = Interpreter(model_content=content, num_threads=threads, **options)
        interpreter.allocate_tensors()
    return interpreter


def _delegate_nodes(interpreter) -> list[dict]:
    details = interpreter._get_ops_details()  # noqa: SLF001 - the one view of delegate nodes
    return [d for d in details if "delegate" in str(d["op_name"]).lower()]


def delegation(content: bytes, threads: int) -> tuple[set[int], int]:
    """(tensor indices written by a delegate node when each op is its own partition, number of
    partitions in the normal load)."""
    single = _interpreter(content, threads, experimental_disable_delegate_node_fusion=True)
    written = {int(t) for node in _delegate_nodes(single) for t in node["outputs"]}
    partitions = len(_delegate_nodes(_interpreter(content, threads)))
    return written, partitions


def _is_constant(model, tensor_index: int) -> bool:
    buffer = model.buffers[model.subgraphs[0].tensors[tensor_index].buffer]
    return buffer.data is not None and len(buffer.data) > 0


def _weight_decoders(model, graph_ops: list) -> dict[int, object]:
    """tensor -> the op that writes it when that op only decodes a constant (float16 weights
    stored behind DEQUANTIZE): the interpreter does that once, at load, not per run."""
    names = {v: k for k, v in vars(_schema_ops()).items() if not k.startswith("_")}
    decoders = {}
    for op in graph_ops:
        code = model.operatorCodes[op.opcodeIndex]
        name = names.get(max(code.builtinCode, code.deprecatedBuiltinCode))
        if name == "DEQUANTIZE" and all(_is_constant(model, int(t)) for t in op.inputs if t >= 0):
            decoders.update({int(t): op for t in op.outputs})
    return decoders


def _schema_ops():
    from ai_edge_litert import schema_py_generated

    return schema_py_generated.BuiltinOperator


def _one_op_model(model, index: int, graph_ops: list, decoders: dict) -> bytes:
    """The model with only op `index` (behind the decoders of its constant weights): its
    variable inputs become the graph's inputs."""
    from ..artifacts.tflite import _pack  # noqa: PLC2701 - the module's own packer

    graph = model.subgraphs[0]
    op = graph_ops[index]
    used = [int(t) for t in op.inputs if t >= 0]
    before = [decoders[t] for t in used if t in decoders]
    inputs = [t for t in used if t not in decoders and not _is_constant(model, t)]
    graph.operators, graph.inputs, graph.outputs = before + [op], inputs, [int(t) for t in op.outputs]
    return _pack(model, 0)


def _random_input(detail: dict, rng: np.random.Generator) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    shape = tuple(int(v) for v in detail["shape"])
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, -128), min(info.max, 127) + 1, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _whole_model(content: bytes, threads: int, warmup: int, runs: int, rng: np.random.Generator) -> dict:
    interpreter = _interpreter(content, threads)
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], _random_input(detail, rng))
    return whole_times(time_runs(interpreter.invoke, warmup, runs), threads)


def _row(info: OpInfo, ms: float, delegated: bool) -> dict:
    return {"index": info.index, "node": info.outputs[0].name if info.outputs else str(info.index),
            "op": info.name, "dtype": info.outputs[0].type if info.outputs else None,
            "inputs": [list(t.shape) for t in info.inputs], "outputs": [list(t.shape) for t in info.outputs],
            "ms": ms, "delegated": delegated, "backend": "XNNPACK" if delegated else "builtin"}


def profile_ops(path: Path, threads: int, warmup: int = 3, runs: int = 20, seed: int = 0) -> dict:
    """{"method", "whole_ms", "partitions", "ops": [row per op, in execution order]}."""
    from ..artifacts.tflite import _unpack  # noqa: PLC2701

    from .litert_upsample import cpu_model

    content, _ = cpu_model(path)  # what LiteRTSession runs on the CPU
    rng = np.random.default_rng(seed)
    infos, _, _ = operators(content)
    written, partitions = delegation(content, threads)
    model = _unpack(content)
    model.signatureDefs = []  # they name the whole model's inputs and outputs
    graph = model.subgraphs[0]
    graph_ops = list(graph.operators or [])
    decoders = _weight_decoders(model, graph_ops)
    rows = []
    for info in infos:
        outputs = [int(t) for t in graph_ops[info.index].outputs]
        delegated = bool(outputs) and set(outputs) <= written
        if outputs and set(outputs) <= set(decoders):
            rows.append(_row(info, 0.0, delegated) | {"backend": "at load"})  # decoded once, timed with no run
            continue
        interpreter = _interpreter(_one_op_model(model, info.index, graph_ops, decoders), threads)
        for detail in interpreter.get_input_details():
            interpreter.set_tensor(detail["index"], _random_input(detail, rng))
        wall, cpu = time_runs(interpreter.invoke, warmup, runs)
        rows.append(_row(info, cpu if threads == 1 else wall, delegated))
    clock = "CPU time of the one thread" if threads == 1 else "wall time"
    return {"method": f"each op timed alone in a one-op model, median {clock} (no per-op profiler in "
                      f"ai-edge-litert's Python API)",
            **_whole_model(content, threads, warmup, runs, rng), "partitions": partitions, "ops": rows}
