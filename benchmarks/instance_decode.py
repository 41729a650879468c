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

With --model M.keras (a TRAINED instance model, e.g. from `edgeseg train --task instance
--preset seed`): that model is converted to full int8 instead (calibrated on its synthetic
training images), and the decoders get the int8 network's OWN outputs on synthetic validation
images, decoded with the settings stored in the model's spec (and with the other method at the
same thresholds, for comparison). PQ/F1 are then the int8 artifact's real scores. --out DIR
keeps the int8 artifact (DIR/model_int8.tflite) so `edgeseg bench` can be run on it.

The load average is printed before and after: the machine is shared, and contention need not
slow a 2-thread network and a 1-thread numpy decoder alike.

Usage: .venv/bin/python benchmarks/instance_decode.py [--images 16] [--rounds 20] [--boundary]
       .venv/bin/python benchmarks/instance_decode.py --model M.keras [--out DIR] [--images 16] [--rounds 20]
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from edgeseg.config import DataConfig, ModelConfig
from edgeseg.data.instance_data import load_instance_splits
from edgeseg.data.instance_targets import instance_targets
from edgeseg.artifacts.edgetpu import check, render
from edgeseg.instances.decode import DecodeSettings, decode
from edgeseg.quantize.tflite_int8 import calibrate, quantize_calibrated
from edgeseg.metrics.instance import InstanceScoreAccumulator
from edgeseg.models.io import load_model
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


def int8_of_trained(model_path: Path, calibration_images: int, directory: Path):
    """(int8 artifact converted from the trained model, its validation data, its stored settings)."""
    model, spec = load_model(model_path)
    if spec.task != "instance":
        raise SystemExit(f"{model_path} is not an instance model (task {spec.task!r})")
    boundary = spec.instance_channels == 3
    train, val = load_instance_splits(DataConfig(synthetic_train=calibration_images, synthetic_val=calibration_images),
                                      spec, boundary=boundary)
    path = directory / "model_int8.tflite"
    images = train.batch(range(calibration_images))[0]
    path.write_bytes(finalize(quantize_calibrated(calibrate(model, images)), spec.to_dict()))
    return path, val, DecodeSettings.from_dict(spec.decode)


def network_outputs(session, data, count: int):
    """(the int8 network's own output maps, true label maps) on the first `count` images."""
    maps = [session.run(data.batch([i])[0])[0] for i in range(count)]
    return maps, [data.unit_sample(i)[1] for i in range(count)]


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
    parser.add_argument("--boundary", action="store_true", help="untrained model only: a boundary channel")
    parser.add_argument("--model", type=Path, help="a trained instance model (.keras): time its int8 artifact")
    parser.add_argument("--out", type=Path, help="with --model: keep the int8 artifact in this directory")
    parser.add_argument("--smooth", type=int, help="decode with this distance smoothing instead of the stored one "
                        "(what compress's re-tuned decoding may store)")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.out or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        if args.model:
            path, data, stored = int8_of_trained(args.model, args.images, directory)
        else:
            path, data = int8_instance_unet(args.boundary, args.images, directory)
            stored = DecodeSettings()
        print(f"converted in {time.perf_counter() - t0:.1f} s")
        print(render(check(path)))
        session = LiteRTSession(path, threads=args.threads)
        inputs = data.batch(range(args.images))[0]
        if args.model:
            maps, truths = network_outputs(session, data, args.images)
            origin = "the int8 network's own outputs"
        else:
            maps, truths = stand_in_outputs(data, args.images, args.boundary)
            origin = "the stand-in maps"
        label = "stored"
        if args.smooth is not None:
            stored, label = dataclasses.replace(stored, smooth=args.smooth), f"smooth {args.smooth}"
        other = "nearest" if stored.method == "watershed" else "watershed"
        methods = {f"{stored.method} ({label})": stored, other: dataclasses.replace(stored, method=other)}
        times = interleaved(session, inputs, maps, methods, args.rounds)
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    network = float(np.median(times["network"])) * 1000
    print(f"\nlitert-cpu int8 network, {args.threads} threads: p50 {network:.2f} ms "
          f"({len(times['network'])} runs); settings {stored.to_dict()}")
    for name, settings in methods.items():
        p50 = float(np.median(times[name])) * 1000
        scores = InstanceScoreAccumulator()
        for m, t in zip(maps, truths):
            scores.update(decode(m, settings).labels, t)
        r = scores.result()
        print(f"decode {name:<18}: p50 {p50:.2f} ms = {100 * p50 / network:.1f}% of the network p50; "
              f"PQ {r['pq']:.4f} F1 {r['f1']:.4f} on {origin} ({r['true_objects']} objects)")


def interleaved(session, inputs, maps, methods: dict, rounds: int) -> dict[str, list[float]]:
    """Per image, in turn: the network, then each decoder on that image's map; seconds."""
    times: dict[str, list[float]] = {"network": [], **{m: [] for m in methods}}
    for i in range(3):  # warm-up
        session.run(inputs[i:i + 1])
    for _ in range(rounds):
        for i in range(len(inputs)):
            start = time.perf_counter()
            session.run(inputs[i:i + 1])
            times["network"].append(time.perf_counter() - start)
            for name, settings in methods.items():
                start = time.perf_counter()
                decode(maps[i], settings)
                times[name].append(time.perf_counter() - start)
    return times


if __name__ == "__main__":
    main()
