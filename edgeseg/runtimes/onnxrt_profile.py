"""Per-node time on onnxruntime from its own profiler (SessionOptions.enable_profiling).

The trace is Chrome-trace JSON: one "Node" event per kernel run, named "<node>_kernel_time",
whose args carry the op type, the execution provider and the input/output shapes; one
"Session" event "model_run" per run. The nodes are those of the optimized graph that ran (a QDQ
model's DequantizeLinear -> Conv -> QuantizeLinear shows up as one QLinearConv when fused),
so the profile shows what the session actually executed.
"""
from __future__ import annotations

import json
import statistics
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from .profile_timing import time_runs, whole_times

_KERNEL_SUFFIX = "_kernel_time"


def _shapes(entries) -> list[list[int]]:
    """args' input_type_shape: [{"float": [1, 3, 8, 8]}, ...] -> [[1, 3, 8, 8], ...]."""
    return [list(next(iter(e.values()))) if isinstance(e, dict) and e else [] for e in entries or []]


def _dtype(entries) -> str | None:
    first = (entries or [None])[0]
    return next(iter(first)) if isinstance(first, dict) and first else None


def parse_trace(events: list[dict], skip_runs: int = 0) -> dict:
    """Median per node over the runs after the first `skip_runs` ones; nodes in first-run order.
    whole_ms is the session's own model_run time (profiling included)."""
    durations: dict[str, list[float]] = defaultdict(list)
    info: dict[str, dict] = {}
    runs = []
    for event in events:
        if event.get("cat") == "Session" and event.get("name") == "model_run":
            runs.append(event["dur"] / 1e3)
        if event.get("cat") != "Node" or not str(event.get("name", "")).endswith(_KERNEL_SUFFIX):
            continue
        node = event["name"][:-len(_KERNEL_SUFFIX)]
        args = event.get("args", {})
        durations[node].append(event["dur"] / 1e3)
        info.setdefault(node, {"node": node, "op": args.get("op_name", "?"), "backend": args.get("provider", "?"),
                               "dtype": _dtype(args.get("output_type_shape")),
                               "inputs": _shapes(args.get("input_type_shape")),
                               "outputs": _shapes(args.get("output_type_shape"))})
    rows = []
    for index, (node, row) in enumerate(info.items()):
        kept = durations[node][skip_runs:] or durations[node]
        rows.append({"index": index, **row, "ms": statistics.median(kept), "delegated": None})
    kept_runs = runs[skip_runs:] or runs
    return {"whole_ms": statistics.median(kept_runs) if kept_runs else None, "ops": rows}


def initializer_shapes(optimized_model: Path) -> dict[str, dict[int, list[int]]]:
    """node name -> {input position: dims} for the inputs that are constants of the optimized
    graph. The trace leaves out the inputs a kernel pre-packed (a QLinearConv's weights), so a
    convolution's kernel size is read here."""
    import onnx

    graph = onnx.load(str(optimized_model)).graph
    dims = {t.name: list(t.dims) for t in graph.initializer}
    return {node.name: {i: dims[name] for i, name in enumerate(node.input) if name in dims} for node in graph.node}


def profile_nodes(make_session, batch: np.ndarray, threads: int | None, warmup: int = 3, runs: int = 20) -> dict:
    """`make_session(options_hook)` builds the runtime's own session with profiling switched on
    (and the optimized graph saved, for the constants' shapes); `batch` is one normalized image,
    as Session.run takes it."""
    with tempfile.TemporaryDirectory() as tmp:
        optimized = Path(tmp) / "optimized.onnx"

        def enable(options) -> None:
            options.enable_profiling = True
            options.profile_file_prefix = str(Path(tmp) / "ort_profile")
            options.optimized_model_filepath = str(optimized)

        session = make_session(enable)
        times = time_runs(lambda: session.run(batch), warmup, runs)
        trace = Path(session.session.end_profiling())
        events = json.loads(trace.read_text())
        constants = initializer_shapes(optimized) if optimized.is_file() else {}
    result = parse_trace(events, skip_runs=warmup) | whole_times(times, threads)
    for row in result["ops"]:
        row["constants"] = {str(k): v for k, v in constants.get(row["node"], {}).items()}
    return {"method": "onnxruntime's profiler (SessionOptions.enable_profiling), median kernel time per node",
            **result, "partitions": None}
