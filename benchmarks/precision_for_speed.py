"""Benchmark (issue 23, item 2, last bullet): can another precision buy int8 speed where channels
cannot? The per-op profile showed XNNPACK's int8 convolution at 128x128 costs ~0.7 ms whatever its
channel count, while float32 runs the 1-channel first convolution in ~0.15 ms. This keeps chosen
full-resolution layer groups in float (the converter's denylist, the mixed rung's route:
quantize/tflite_int8.quantize_calibrated) and times every variant interleaved in one run on
litert-cpu, against full int8, for the seed-width U-Net and the same at 1/4 width (a uniform 0.75
channel prune's widths). Weights are random (latency only).

Usage: PYTHONPATH=. .venv/bin/python benchmarks/precision_for_speed.py [--threads 2 1] [--min-seconds 6]"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
from pathlib import Path

import numpy as np

VARIANTS = {
    "full int8": (),
    "first conv float": ("enc1_conv1",),
    "first conv + head float": ("enc1_conv1", "output"),
    "all 128x128 layers float": ("enc1_conv1", "enc1_conv2", "dec1_upconv", "dec1_conv1", "dec1_conv2", "output"),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    parser.add_argument("--min-seconds", type=float, default=6.0)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--out", default="benchmarks/results/precision_for_speed.json")
    args = parser.parse_args()

    from edgeseg.models.unet import build_unet
    from edgeseg.quantize.sensitivity import layer_groups, nodes_of
    from edgeseg.quantize.tflite_int8 import calibrate, quantize_calibrated
    from edgeseg.runtimes import REGISTRY
    from edgeseg.runtimes.machine import machine_info
    from edgeseg.search.timing import measure_interleaved

    rng = np.random.default_rng(0)
    calibration = rng.random((8, args.size, args.size, 1), dtype=np.float32)
    image = calibration[:1]
    runtime = REGISTRY["litert-cpu"]
    results = {"machine": machine_info(args.threads[0]), "python": platform.python_version(), "rows": []}
    with tempfile.TemporaryDirectory() as tmp:
        paths, labels = [], []
        for width in (32, 8):
            model = build_unet(args.size, args.size, 1, 1, width, 4, True, 0.0)
            calibrated = calibrate(model, calibration)
            groups = layer_groups(model, calibrated)
            for label, layers in VARIANTS.items():
                missing = set(layers) - {g.name for g in groups}
                if missing:
                    raise SystemExit(f"no layer group named {sorted(missing)}: {[g.name for g in groups]}")
                path = Path(tmp) / f"w{width}_{len(paths)}.tflite"
                path.write_bytes(quantize_calibrated(calibrated, True, nodes_of(groups, layers)))
                paths.append(path)
                labels.append((width, label, path.stat().st_size))
        for threads in args.threads:
            p50 = measure_interleaved(paths, lambda p: runtime.load(p, threads=threads), image,
                                      min_seconds=args.min_seconds)
            for (width, label, size), ms in zip(labels, p50):
                base = p50[[i for i, (w, lab, _) in enumerate(labels) if w == width and lab == "full int8"][0]]
                row = {"base_filters": width, "variant": label, "threads": threads, "bytes": size,
                       "p50_ms": round(ms, 3), "vs_full_int8": round(ms / base, 3)}
                results["rows"].append(row)
                print(json.dumps(row))
    Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
