"""Benchmark (issue 23): int8 latency of the seed U-Net and its 50% channel-pruned version on
litert-cpu (before: the file as is, 4 XNNPACK partitions; after: LiteRTSession, upsampling as
copies inside XNNPACK) and ort-cpu, timed interleaved in one run per thread count.

On a shared machine wall time mostly measures the other processes: at 1 thread the calling
thread does all the work, so its CPU time (time.thread_time_ns) is reported beside wall time;
at 2 threads only wall time means anything, and the ratios between rows are what to read.

Usage: PYTHONPATH=. .venv/bin/python benchmarks/profile_seed.py PLAIN_DIR PRUNED_DIR [--rounds 40]
(PLAIN_DIR: compress --prune none; PRUNED_DIR: compress --prune channels --channel-ratio 0.5.)
"""
from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from pathlib import Path

import numpy as np

from edgeseg.runtimes.litert import LiteRTSession, dequantize_output, quantize_input
from edgeseg.runtimes.onnxrt import OnnxSession


class FileAsIs:
    """LiteRT on the file's own graph (no upsampling rewrite): the 'before' row."""

    def __init__(self, path: Path, threads: int):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
        self.interpreter.allocate_tensors()
        self.input, self.output = self.interpreter.get_input_details()[0], self.interpreter.get_output_details()[0]

    def run(self, batch: np.ndarray) -> np.ndarray:
        self.interpreter.set_tensor(self.input["index"], quantize_input(batch, self.input))
        self.interpreter.invoke()
        return dequantize_output(self.interpreter.get_tensor(self.output["index"]), self.output)


def rows(plain: Path, pruned: Path) -> dict[str, tuple]:
    tflite = {"plain": plain / "model_int8.tflite", "pruned": pruned / "model_channels_int8.tflite"}
    onnx = {"plain": plain / "model_int8.onnx", "pruned": pruned / "model_channels_int8.onnx"}
    out = {}
    for name in ("plain", "pruned"):
        out[f"{name} litert before"] = (FileAsIs, tflite[name])
        out[f"{name} litert after"] = (LiteRTSession, tflite[name])
        out[f"{name} ort"] = (OnnxSession, onnx[name])
    return out


def measure(plan: dict[str, tuple], threads: int, rounds: int, image: np.ndarray) -> dict[str, dict]:
    sessions = {name: make(path, threads) for name, (make, path) in plan.items()}
    outputs = {name: s.run(image) for name, s in sessions.items()}
    for name in sessions:  # the rewrite must not change a single output value
        if name.endswith("after"):
            assert np.array_equal(outputs[name], outputs[name.replace("after", "before")]), name
    for session in sessions.values():
        for _ in range(3):
            session.run(image)
    cpu = {n: [] for n in sessions}
    wall = {n: [] for n in sessions}
    gc.disable()
    try:
        for _ in range(rounds):
            for name, session in sessions.items():
                for _ in range(3):
                    c, w = time.thread_time_ns(), time.perf_counter_ns()
                    session.run(image)
                    cpu[name].append(time.thread_time_ns() - c)
                    wall[name].append(time.perf_counter_ns() - w)
    finally:
        gc.enable()
    return {n: {"wall_p50_ms": round(statistics.median(wall[n]) / 1e6, 3),
                **({"cpu_p50_ms": round(statistics.median(cpu[n]) / 1e6, 3)} if threads == 1 else {}),
                "runs": len(wall[n])} for n in sessions}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("plain", type=Path)
    parser.add_argument("pruned", type=Path)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    image = np.random.default_rng(0).random((1, 128, 128, 1), dtype=np.float32)
    results = {}
    for threads in (int(t) for t in args.threads.split(",")):
        results[f"{threads}t"] = measure(rows(args.plain, args.pruned), threads, args.rounds, image)
        for name, figures in results[f"{threads}t"].items():
            print(f"threads {threads}  {name:22s} " + "  ".join(f"{k} {v}" for k, v in figures.items()))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
