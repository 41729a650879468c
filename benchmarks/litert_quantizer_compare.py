"""litert-quantizer 0.11 (static_wi8_ai8, MinMax) against the TFLite converter's PTQ on a compress
output folder: bytes, Dice on the validation images, p50 latency (LiteRT CPU, interleaved), and the
Edge TPU op check. Both quantize from the same calibration images; litert-quantizer's static_wi8_ai8
recipe makes int8 input/output, so the converter's artifact compared is model_int8.tflite.

Usage: PYTHONPATH=. python benchmarks/litert_quantizer_compare.py OUT_DIR [--threads 2]"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from edgeseg.artifacts.compress_report import read_compress_report
from edgeseg.artifacts.edgetpu import check
from edgeseg.config import CompressConfig, DataConfig
from edgeseg.data.dataset import calibration_images, load_splits
from edgeseg.models.io import load_model
from edgeseg.runtimes.litert import LiteRTCPU, LiteRTSession
from edgeseg.scoring.predictors import evaluate_predictor
from edgeseg.search.timing import measure_interleaved


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    out = Path(a.out)
    report = read_compress_report(out)
    _, spec = load_model(Path(report.model))
    train, val = load_splits(DataConfig(**report.data_config), spec)
    calibration = calibration_images(train, CompressConfig().calibration_samples, 8)

    from litert_quantizer import quantizer, recipe

    start = time.perf_counter()
    qt = quantizer.Quantizer(bytearray((out / "model_float32.tflite").read_bytes()), recipe.static_wi8_ai8())
    key = "serving_default"
    name = LiteRTSession(out / "model_float32.tflite").input["name"].split(":")[0].removeprefix("serving_default_")
    result = qt.calibrate({key: [{name: calibration[i:i + 1]} for i in range(len(calibration))]})
    data = qt.quantize(result, enable_progress_report=False).quantized_model
    seconds = time.perf_counter() - start
    lq = out / "litert_quantizer_int8.tflite"
    lq.write_bytes(bytes(data))
    converter = out / "model_int8.tflite"
    rows = {}
    runtime = LiteRTCPU()
    p50 = measure_interleaved([converter, lq], lambda path: runtime.load(path, threads=a.threads),
                              val.batch([0])[0].astype(np.float32))
    for (label, path), ms in zip((("converter PTQ", converter), ("litert-quantizer", lq)), p50):
        tpu = check(path)
        rows[label] = {"bytes": path.stat().st_size, "dice": evaluate_predictor(LiteRTSession(path).run, val)["dice"],
                       "p50_ms": round(ms, 3), "edgetpu_problems": tpu.problems,
                       "edgetpu_cpu_ops": sorted({v.op for v in tpu.ops if not v.on_tpu})}
    rows["litert-quantizer"]["quantize_seconds"] = round(seconds, 1)
    print(json.dumps({"float_dice": report.baseline["dice"], "threads": a.threads, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
