"""Benchmark: the headline table on the seed U-Net (issue 5), measured by `edgeseg bench`.

Rows: float Keras (keras-cpu); float32, float16, int8 and pruned + int8 TFLite (litert-cpu);
float32 and int8 ONNX (ort-cpu); GPU and TPU runtimes appear as unavailable rows where absent.

Usage: .venv/bin/python benchmarks/bench_seed.py [--out .edgeseg/bench_seed] [--min-time 10]
Needs OUT/seed.keras from benchmarks/compress_seed.py. Makes OUT/pruned50 (compress at 50%
sparsity, default fine-tuning) once if it is missing; latency does not depend on sparsity.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from edgeseg.bench.report import render_terminal
from edgeseg.bench.run import Outputs, bench, write_outputs
from edgeseg.compress.pipeline import compress
from edgeseg.config import BenchConfig, CompressConfig, DataConfig


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=".edgeseg/bench_seed")
    parser.add_argument("--min-time", type=float, default=10.0)
    parser.add_argument("--min-runs", type=int, default=50)
    parser.add_argument("--runtimes", default="auto")
    args = parser.parse_args()
    out = Path(args.out)
    model = out / "seed.keras"
    if not model.is_file():
        raise SystemExit(f"{model} is missing: run benchmarks/compress_seed.py first")
    data = DataConfig(synthetic_train=256, synthetic_val=32)
    compressed = out / "pruned50"
    if not (compressed / "report.json").is_file():
        compress(model, CompressConfig(data=data, prune="magnitude", sparsity=0.5, calibration_samples=32),
                 compressed, force=True)
    config = BenchConfig(data=data, runtimes=tuple(args.runtimes.split(",")), min_time=args.min_time,
                         min_runs=args.min_runs)
    report = bench([compressed], config)
    print(render_terminal(report))
    write_outputs(report, Outputs(json=out / "bench.json", md=out / "bench.md", plot=out / "bench.png", force=True))


if __name__ == "__main__":
    main()
