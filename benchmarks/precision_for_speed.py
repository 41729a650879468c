"""Benchmark (issue 23, item 2, last bullet): can another precision buy int8 speed where channels
cannot? The per-op profile showed XNNPACK's int8 convolution at 128x128 costs ~0.7 ms whatever its
channel count, while float32 runs the 1-channel first convolution in ~0.15 ms. This keeps chosen
full-resolution layer groups in float (the converter's denylist, the mixed rung's route:
quantize/tflite_int8.quantize_calibrated) and times every variant interleaved in one run on
litert-cpu, against full int8, for the seed preset's U-Net (base 32, depth 3) and the same at base 8 (a uniform 0.75
channel prune's widths). Weights are random (latency only).

With --model M --data DIR (the DSB model of `benchmarks/small_data.py --dataset dsb --train-only`), the
trained model's full int8 and float-ends artifacts instead: Dice in LiteRT on DIR's validation tiles
(threshold rule `p > t`, and `p >= t` beside it) and latency, interleaved.

Usage: PYTHONPATH=. .venv/bin/python benchmarks/precision_for_speed.py [--threads 2 1] [--min-seconds 6]
       [--model .edgeseg/small_data_dsb/seed128.keras --data .edgeseg/small_data_dsb/data]"""
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
    parser.add_argument("--model", help="a trained model: Dice of full int8 against float ends")
    parser.add_argument("--data", help="its data folder (train/ and val/)")
    args = parser.parse_args()
    if args.model:
        return trained(args)

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
            model = build_unet(args.size, args.size, 1, 1, width, 3, True, 0.0)  # the seed preset: depth 3
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


def trained(args) -> None:
    from edgeseg.artifacts.tflite import finalize
    from edgeseg.config import DataConfig
    from edgeseg.data.dataset import calibration_images, load_splits
    from edgeseg.metrics import ScoreAccumulator
    from edgeseg.models.io import load_model
    from edgeseg.quantize.tflite_int8 import calibrate, first_conv_nodes, head_nodes, quantize_calibrated
    from edgeseg.runtimes import REGISTRY
    from edgeseg.runtimes.machine import machine_info
    from edgeseg.search.timing import measure_interleaved

    model, spec = load_model(Path(args.model))
    train, val = load_splits(DataConfig(source=args.data), spec)
    calibrated = calibrate(model, calibration_images(train, 32, 8))
    runtime = REGISTRY["litert-cpu"]
    variants = {"full int8": (), "first conv + head float": first_conv_nodes(calibrated) + head_nodes(calibrated)}
    results = {"machine": machine_info(args.threads[0]), "model": args.model, "rows": []}
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, nodes in enumerate(variants.values()):
            path = Path(tmp) / f"v{i}.tflite"
            path.write_bytes(finalize(quantize_calibrated(calibrated, True, nodes), spec.to_dict()))
            paths.append(path)
        dice = []
        for path in paths:
            session = runtime.load(path, threads=args.threads[0])
            strict, inclusive = ScoreAccumulator(labels=2), ScoreAccumulator(labels=2)
            for images, truth in val.batches(8):
                probs = np.concatenate([np.asarray(session.run(images[j:j + 1])) for j in range(len(images))])
                strict.update((probs[..., 0] > spec.threshold).astype(np.int32), truth)
                inclusive.update((probs[..., 0] >= spec.threshold).astype(np.int32), truth)
            dice.append((strict.result()["dice"], inclusive.result()["dice"]))
        image = val.batch([0])[0].astype(np.float32)
        for threads in args.threads:
            p50 = measure_interleaved(paths, lambda p: runtime.load(p, threads=threads), image,
                                      min_seconds=args.min_seconds)
            for (label, _), path, (d, d_incl), ms in zip(variants.items(), paths, dice, p50):
                row = {"variant": label, "threads": threads, "bytes": path.stat().st_size, "dice": round(d, 4),
                       "dice_inclusive": round(d_incl, 4), "p50_ms": round(ms, 3), "vs_full_int8": round(ms / p50[0], 3)}
                results["rows"].append(row)
                print(json.dumps(row))
    Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
