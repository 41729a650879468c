"""Benchmark (issue 16): instance decoding time against the int8 network at 256x256, and the
seed-size instance U-Net's Edge TPU op mapping.

Builds the seed-preset instance U-Net (256x256, 32 filters, 2 or 3 sigmoid channels), converts
it to full-int8 TFLite with edgeseg's exporter (calibrated on synthetic instance images) and
runs edgetpu-check on it. Then, interleaved in one loop, times per image: the int8 network on
litert-cpu (2 threads) and both decoders on a 256x256 output map.

What the decoders are given: a trained network is not part of this script, and decoding time
depends on the maps' content (an untrained net's noise would seed everywhere). So the maps are
stand-ins for a trained network's output: the true targets of synthetic instance images,
Gaussian-blurred (sigma 1.5 px) and quantized to the int8 output's 1/256 steps. The network's
time does not depend on its weights. The decoders' PQ on these maps is printed as a sanity check.

Usage: .venv/bin/python benchmarks/instance_decode.py [--images 16] [--rounds 20] [--boundary]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from edgeseg.config import DataConfig, ModelConfig
from edgeseg.data.instance_data import load_instance_splits
from edgeseg.data.instance_targets import instance_targets
from edgeseg.artifacts.edgetpu import check, render
from edgeseg.deploy.instances import DecodeSettings, decode
from edgeseg.quantize.tflite_int8 import calibrate, quantize_calibrated
from edgeseg.metrics.instance import InstanceScoreAccumulator
from edgeseg.models.registry import build_model, spec_for
from edgeseg.runtimes.litert import LiteRTSession
from edgeseg.artifacts.tflite import finalize


def int8_instance_unet(boundary: bool, calibration_images: int, directory: Path):
    config = ModelConfig(arch="unet", preset="seed", task="instance", boundary=boundary)
    spec = spec_for(config)
    data, _ = load_instance_splits(DataConfig(synthetic_train=max(calibration_images, 1), synthetic_val=1), spec,
                                   boundary=boundary)
    images = data.batch(range(calibration_images))[0]
    path = directory / "instance_seed_int8.tflite"
    path.write_bytes(finalize(quantize_calibrated(calibrate(build_model(config), images)), spec.to_dict()))
    return path, data


def stand_in_outputs(data, count: int, boundary: bool):
    """(network-like output maps, true label maps): blurred targets on the int8 output grid."""
    maps, truths = [], []
    for i in range(count):
        _, labels = data.unit_sample(i)
        smooth = ndimage.gaussian_filter(instance_targets(labels, boundary), (1.5, 1.5, 0))
        maps.append((np.round(smooth * 256) / 256).clip(0, 1).astype(np.float32))
        truths.append(labels)
    return maps, truths


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=20, help="passes over the images")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--boundary", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path, data = int8_instance_unet(args.boundary, args.images, Path(tmp))
        print(f"converted in {time.perf_counter() - t0:.1f} s")
        print(render(check(path)))
        session = LiteRTSession(path, threads=args.threads)
        inputs = data.batch(range(args.images))[0]
        maps, truths = stand_in_outputs(data, args.images, args.boundary)
        methods = {m: DecodeSettings(method=m) for m in ("watershed", "nearest")}
        times: dict[str, list[float]] = {"network": [], **{m: [] for m in methods}}
        for i in range(3):  # warm-up
            session.run(inputs[i:i + 1])
        for _ in range(args.rounds):  # interleaved: every image, network then each decoder
            for i in range(args.images):
                start = time.perf_counter()
                session.run(inputs[i:i + 1])
                times["network"].append(time.perf_counter() - start)
                for name, settings in methods.items():
                    start = time.perf_counter()
                    decode(maps[i], settings)
                    times[name].append(time.perf_counter() - start)
    network = float(np.median(times["network"])) * 1000
    print(f"\nlitert-cpu int8 network, {args.threads} threads: p50 {network:.2f} ms "
          f"({len(times['network'])} runs)")
    for name, settings in methods.items():
        p50 = float(np.median(times[name])) * 1000
        scores = InstanceScoreAccumulator()
        for m, t in zip(maps, truths):
            scores.update(decode(m, settings).labels, t)
        r = scores.result()
        print(f"decode {name:<9}: p50 {p50:.2f} ms = {100 * p50 / network:.1f}% of the network p50; "
              f"PQ {r['pq']:.4f} F1 {r['f1']:.4f} on the stand-in maps ({r['true_objects']} objects)")


if __name__ == "__main__":
    main()
