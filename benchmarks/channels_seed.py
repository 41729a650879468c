"""Benchmark: structured (filter) pruning on the seed U-Net (issue 7).

compress --prune channels on OUT/seed.keras, then one `edgeseg bench` run on litert-cpu over
that output and the unstructured run (OUT/pruned50, from bench_seed.py) side by side, so that
every ratio comes from one interleaved run.

Usage: .venv/bin/python benchmarks/channels_seed.py [--ratio 0.5] [--finetune-steps 300]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgeseg.artifacts.compress_report import read_compress_report
from edgeseg.bench.report import render_terminal
from edgeseg.bench.run import Outputs, bench, write_outputs
from edgeseg.compress.pipeline import compress
from edgeseg.config import BenchConfig, CompressConfig, DataConfig


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=".edgeseg/bench_seed")
    parser.add_argument("--ratio", type=float, default=0.5)
    parser.add_argument("--finetune-steps", type=int, default=300)
    parser.add_argument("--finetune-lr", type=float, default=5e-4)
    parser.add_argument("--min-time", type=float, default=10.0)
    args = parser.parse_args()
    out = Path(args.out)
    data = DataConfig(synthetic_train=256, synthetic_val=32)
    target = out / f"channels{int(args.ratio * 100)}"
    if not (target / "report.json").is_file():
        compress(out / "seed.keras", CompressConfig(data=data, prune="channels", channel_ratio=args.ratio,
                                                    finetune_steps=args.finetune_steps,
                                                    finetune_lr=args.finetune_lr, calibration_samples=32),
                 target, force=True)
    sources = [target] + ([out / "pruned50"] if (out / "pruned50" / "report.json").is_file() else [])
    report = bench(sources, BenchConfig(data=data, runtimes=("litert-cpu",), min_time=args.min_time, min_runs=50))
    print(render_terminal(report))
    write_outputs(report, Outputs(json=out / f"channels{int(args.ratio * 100)}_bench.json", force=True))
    rows = {r.artifact: r for r in report.rows if r.status == "ok"}

    def row(file: str):  # names are prefixed by their directory only where two collide
        return rows.get(f"{target.name}/{file}") or rows[file]

    f32, c32 = row("model_float32.tflite"), row("model_channels_float32.tflite")
    compress_report = read_compress_report(target)
    base = compress_report.baseline.dice
    print(json.dumps({"speedup_float32_p50": round(f32.p50_ms / c32.p50_ms, 3),
                      "channels_float32_dice_ratio": round(c32.dice / base, 4),
                      "flops_ratio": round(compress_report.channels.flops_ratio, 4)}, indent=2))


if __name__ == "__main__":
    main()
