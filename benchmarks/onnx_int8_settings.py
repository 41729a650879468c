"""Benchmark: int8 ONNX build settings against the int8 TFLite of the same compress output
(issue 23: ONNX int8 speed). Every variant is quantized from the compress folder's float
model.onnx on the same 32 calibration images, verified for Dice in onnxruntime, profiled per
node (1 thread), then all variants and model_int8.tflite (litert-cpu) are timed interleaved
in one run at each thread count (at 1 thread also the thread's CPU time: see profile_seed.py).

Usage: PYTHONPATH=.:benchmarks .venv/bin/python benchmarks/onnx_int8_settings.py COMPRESS_DIR [--threads 1,2]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from edgeseg.artifacts.onnx import read_spec
from edgeseg.bench.profile import profile_row
from edgeseg.config import DataConfig, PreprocessSpec
from edgeseg.data.dataset import calibration_images
from edgeseg.data.instance_data import load_task_splits
from edgeseg.quantize.onnx_int8 import OnnxInt8Settings, quantize_onnx_int8
from edgeseg.runtimes.litert import LiteRTCPU, LiteRTSession
from edgeseg.runtimes.onnxrt import OnnxRuntimeCPU, OnnxSession
from edgeseg.scoring.predictors import evaluate_predictor
from profile_seed import measure  # same folder: interleaved rounds, CPU time at one thread

VARIANTS = {
    "default": OnnxInt8Settings(),  # what compress builds
    "exact-resize": OnnxInt8Settings(exact_resize=True),
    "qoperator": OnnxInt8Settings(quant_format="QOperator"),
    "s8s8": OnnxInt8Settings(activations="QInt8"),
    "no-preprocess": OnnxInt8Settings(pre_process=False),
    "per-tensor": OnnxInt8Settings(per_channel=False),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("source", type=Path, help="a compress output folder with model.onnx and model_int8.tflite")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    out = args.source / "onnx_int8_settings"
    out.mkdir(exist_ok=True)
    raw_spec = read_spec(args.source / "model.onnx")
    spec = PreprocessSpec.from_dict(raw_spec)
    train, val = load_task_splits(DataConfig(synthetic_train=256, synthetic_val=32), spec)
    calibration = calibration_images(train, 32, 8)
    paths, summary = {}, {}
    for name in args.variants.split(","):
        path = out / f"{name}.onnx"
        quantize_onnx_int8(args.source / "model.onnx", path, calibration, raw_spec, settings=VARIANTS[name])
        paths[name] = path
        dice = evaluate_predictor(OnnxSession(path, 1).run, val, 8)["dice"]
        profile = profile_row(OnnxRuntimeCPU(), path, 1, val.batch([0])[0].astype(np.float32), 20)
        if not profile["available"]:
            raise SystemExit(f"{name}: {profile['reason']}")
        summary[name] = {"settings": dataclasses.asdict(VARIANTS[name]), "dice": round(dice, 4),
                         "profile_ms": round(profile["ops_ms"], 3),
                         "by_type_ms": {k: round(v["ms"], 3) for k, v in profile["by_type"].items()}}
        print(name, json.dumps(summary[name]))
    tflite = args.source / "model_int8.tflite"
    summary["litert-int8"] = {"dice": round(evaluate_predictor(LiteRTCPU().load(tflite, 1).run, val, 8)["dice"], 4)}
    image = val.batch([0])[0].astype(np.float32)
    plan = {"litert-int8": (LiteRTSession, tflite), **{name: (OnnxSession, path) for name, path in paths.items()}}
    for threads in (int(t) for t in args.threads.split(",")):
        for name, figures in measure(plan, threads, args.rounds, image).items():
            summary[name] |= {f"{k}_{threads}t": v for k, v in figures.items() if k != "runs"}
            print(f"threads {threads}  {name:14s} " + "  ".join(f"{k} {v}" for k, v in figures.items()))
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
