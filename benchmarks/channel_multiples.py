"""Benchmark: does rounding channel counts to multiples of 8 or 16 (SIMD widths) make
channel-pruned int8 models faster on litert-cpu? (issue 13, item 3)

Latency does not depend on the weights, so the models are channel-pruned (no fine-tuning),
quantized to int8 with a few calibration images and timed together in interleaved rounds
(edgeseg.search.timing.measure_interleaved, the search's own timer), 2 threads.

Usage: .venv/bin/python benchmarks/channel_multiples.py [--model .edgeseg/small_data/seed128.keras]
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np


def main() -> None:
    from edgeseg.prune.channels import prune_channels
    from edgeseg.search.timing import measure_interleaved
    from edgeseg.export.tflite import calibrate, quantize_calibrated
    from edgeseg.models.flops import model_flops
    from edgeseg.models.io import load_model
    from edgeseg.runtimes import REGISTRY

    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=".edgeseg/small_data/seed128.keras")
    parser.add_argument("--ratios", default="0.5,0.75,0.8125")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    model, spec = load_model(Path(args.model))
    images = np.random.default_rng(0).random((8, spec.height, spec.width, spec.channels)).astype(np.float32)
    rows, paths = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for ratio in (float(r) for r in args.ratios.split(",")):
            for multiple in (1, 8, 16):
                pruned = prune_channels(model, ratio, multiple=multiple).model
                path = Path(tmp) / f"r{ratio}_m{multiple}.tflite"
                path.write_bytes(quantize_calibrated(calibrate(pruned, images), True))
                paths.append(path)
                rows.append({"ratio": ratio, "multiple": multiple, "gflops": round(model_flops(pruned) / 1e9, 3),
                             "filters": [layer.filters for layer in pruned.layers if hasattr(layer, "filters")]})
        runtime = REGISTRY["litert-cpu"]
        p50s = measure_interleaved(paths, lambda p: runtime.load(p, args.threads), images[:1], min_seconds=5.0)
    for row, p50 in zip(rows, p50s):
        row["p50_ms"] = round(p50, 3)
        print(json.dumps(row))


if __name__ == "__main__":
    main()
