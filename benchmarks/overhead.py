"""Benchmark: what edgeseg adds over a bare LiteRT invoke loop at batch 1.

- issue 5: the bench harness's timer, p50 within 3% of a bare loop;
- issue 6: the device runtime (Segmenter.predict: preprocessing, quantization, invoke,
  dequantization, the mask), <= 5% over a bare Interpreter.invoke.

One interpreter; blocks of each way alternate in one process, and each figure is the median of
all its runs. Ways:
- bare: `interpreter.invoke()` alone, input already set (the floor);
- bare+io: set_tensor (already quantized input) + invoke + get_tensor;
- harness: edgeseg's interleaved timer around the session (quantization and I/O included);
- segmenter: Segmenter.predict on a uint8 image at the model's size.

Usage: .venv/bin/python benchmarks/overhead.py MODEL.tflite [...] [--blocks 10 --runs 30]
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
from edgeseg.deploy.segmenter import Segmenter
from edgeseg.runtimes.litert import LiteRTCPU, quantize_input


def timed(fn, runs: int) -> list[int]:
    samples = []
    gc.disable()
    try:
        for _ in range(runs):
            start = time.perf_counter_ns()
            fn()
            samples.append(time.perf_counter_ns() - start)
    finally:
        gc.enable()
    return samples


def measure(path: Path, blocks: int, runs: int) -> dict:
    segmenter = Segmenter(path)
    session, spec = segmenter.session, segmenter.spec
    interpreter, inp, out = session.interpreter, session.input, session.output
    pixels = (np.random.default_rng(0).random((spec.height, spec.width, spec.channels)) * 255).astype(np.uint8)
    image = (pixels / 255.0).astype(np.float32)[None]
    ready = quantize_input(image, inp)
    interpreter.set_tensor(inp["index"], ready)

    def bare_io():
        interpreter.set_tensor(inp["index"], ready)
        interpreter.invoke()
        interpreter.get_tensor(out["index"])

    def harness():
        row = Row(Artifact(path.name, path, "tflite", "", 0, 0, ""), LiteRTCPU(), session=session)
        # One timed run per round, `runs` rounds: the harness's own loop, as `edgeseg bench` times.
        time_interleaved([row], image, BenchConfig(min_runs=runs, min_time=0.0, round_time=1e-9), time.perf_counter_ns)
        return row.samples_ns

    ways = {"bare": lambda: timed(interpreter.invoke, runs), "bare+io": lambda: timed(bare_io, runs),
            "harness": harness, "segmenter": lambda: timed(lambda: segmenter.predict(pixels), runs)}
    for way in ways.values():
        way()  # warm-up block
    results: dict[str, list[int]] = {k: [] for k in ways}
    for _ in range(blocks):
        for name, way in ways.items():
            results[name] += way()
    p50 = {k: float(np.median(v)) / 1e6 for k, v in results.items()}
    return {"model": str(path), "threads": session.threads, "runs_each": blocks * runs,
            "p50_ms": {k: round(v, 3) for k, v in p50.items()},
            "harness_over_bare": round(p50["harness"] / p50["bare"], 4),
            "segmenter_over_bare": round(p50["segmenter"] / p50["bare"], 4)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    print(json.dumps([measure(m, args.blocks, args.runs) for m in args.models], indent=2))


if __name__ == "__main__":
    main()
