"""Benchmark: the bench harness's own overhead (issue 5: p50 within 3% of a bare loop).

On the same LiteRT interpreter, in one process, alternating blocks:
- bare: `interpreter.invoke()` alone, timed with perf_counter_ns, input already set;
- bare+io: set_tensor (already quantized input) + invoke + get_tensor;
- harness: edgeseg's interleaved timer on the session (quantization and I/O included).
Each figure is the median of all its runs across the blocks; the ratio is harness / bare.

Usage: .venv/bin/python benchmarks/bench_overhead.py MODEL.tflite [MODEL.tflite ...] [--blocks 10 --runs 30]
"""
from __future__ import annotations

import argparse
import gc
import json
import time
from pathlib import Path

import numpy as np

from edgeseg.bench.artifacts import Artifact
from edgeseg.bench.harness import Row, time_interleaved
from edgeseg.config import BenchConfig
from edgeseg.runtimes.litert import LiteRTCPU, quantize_input


def bare(session, image, runs: int, with_io: bool) -> list[int]:
    interpreter, inp, out = session.interpreter, session.input, session.output
    ready = quantize_input(image, inp)
    interpreter.set_tensor(inp["index"], ready)
    samples = []
    gc.disable()
    try:
        for _ in range(runs):
            start = time.perf_counter_ns()
            if with_io:
                interpreter.set_tensor(inp["index"], ready)
            interpreter.invoke()
            if with_io:
                interpreter.get_tensor(out["index"])
            samples.append(time.perf_counter_ns() - start)
    finally:
        gc.enable()
    return samples


def measure(path: Path, blocks: int, runs: int) -> dict:
    runtime = LiteRTCPU()
    session = runtime.load(path)
    shape = session.input["shape"]
    image = np.random.default_rng(0).random((1, *shape[1:]), dtype=np.float32)
    for _ in range(5):
        session.run(image)
    results: dict[str, list[int]] = {"bare": [], "bare+io": [], "harness": []}
    config = BenchConfig(min_runs=runs, min_time=0.0, round_time=1e-9)  # one timed run per round
    for _ in range(blocks):
        results["bare"] += bare(session, image, runs, with_io=False)
        results["bare+io"] += bare(session, image, runs, with_io=True)
        row = Row(Artifact(path.name, path, "tflite", "", 0, 0, ""), runtime, session=session)
        time_interleaved([row], image, config, time.perf_counter_ns)
        results["harness"] += row.samples_ns
    p50 = {k: float(np.median(v)) / 1e6 for k, v in results.items()}
    return {"model": str(path), "threads": session.threads, "runs_each": blocks * runs,
            "p50_ms": {k: round(v, 3) for k, v in p50.items()},
            "harness_over_bare": round(p50["harness"] / p50["bare"], 4),
            "harness_over_bare_io": round(p50["harness"] / p50["bare+io"], 4)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    print(json.dumps([measure(m, args.blocks, args.runs) for m in args.models], indent=2))


if __name__ == "__main__":
    main()
