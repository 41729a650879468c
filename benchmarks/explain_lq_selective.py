"""litert-quantizer 0.11's selective recipes as the TFLite mixed rung's engine, against the converter's
denylist route that compress uses: the same layers (the ones compress's mixed rung kept in float, read
from its report), kept in float (algorithm no_quantize) or given int16 activations (static, 8-bit
weights), everything else static int8 (MinMax), the same 64 calibration images. Bytes, Dice on the
validation images, p50 on LiteRT CPU (interleaved), and the Edge TPU op check.

litert-quantizer stores the weights outside the flatbuffer (buffer offsets); edgeseg's CPU session
repacks every .tflite to rewrite nearest upsampling (runtimes/litert_upsample.py), which loses them
("Constant buffer 19 specified an out of range offset"). Here every file, the converter's too, is loaded
as it is (the rewrite off for all, so the timing stays fair).

Usage: PYTHONPATH=. python benchmarks/explain_lq_selective.py COMPRESS_OUT [--threads 2] [--seconds 10]"""
from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np

from edgeseg.artifacts.compress_report import read_compress_report
from edgeseg.artifacts.edgetpu import check
from edgeseg.config import CompressConfig, DataConfig
from edgeseg.data.dataset import calibration_images, load_splits
from edgeseg.models.io import load_model
from edgeseg.quantize.sensitivity import layer_groups, nodes_of
from edgeseg.runtimes.litert import LiteRTCPU, LiteRTSession
from edgeseg.scoring.predictors import evaluate_predictor
from edgeseg.search.timing import measure_interleaved


def _as_is(path):
    return None, 0


def selective(float_tflite: bytes, calibration: np.ndarray, input_name: str, regex: str | None,
              kept: str) -> bytes:
    """Static int8 everywhere; ops whose output tensor matches `regex` kept in float or int16."""
    from litert_quantizer import quantizer, recipe
    from litert_quantizer.algorithm_manager import AlgorithmName
    from litert_quantizer.qtyping import TFLOperationName

    qt = quantizer.Quantizer(bytearray(float_tflite), recipe.static_wi8_ai8())
    if regex and kept == "float":
        qt.update_quantization_recipe(regex, TFLOperationName.ALL_SUPPORTED, algorithm_key=AlgorithmName.NO_QUANTIZE)
    elif regex:
        qt.add_static_config(regex, TFLOperationName.ALL_SUPPORTED, activation_num_bits=16, weight_num_bits=8)
    result = qt.calibrate({"serving_default": [{input_name: calibration[i:i + 1]} for i in range(len(calibration))]})
    return bytes(qt.quantize(result, enable_progress_report=False).quantized_model)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=10.0)
    a = p.parse_args()
    import os

    import edgeseg.runtimes.litert_upsample as upsample

    os.environ["TQDM_DISABLE"] = "1"
    upsample.cpu_model = _as_is
    out = Path(a.out)
    report = read_compress_report(out)
    model, spec = load_model(Path(report.model))
    data = report.data_config
    train, val = load_splits(data if isinstance(data, DataConfig) else DataConfig(**data), spec)
    calibration = calibration_images(train, CompressConfig().calibration_samples, 8)
    int8 = next(x for x in report.to_dict()["artifacts"] if x["path"] == "model_int8.tflite")
    layers = int8["explain"]["repair"]["float_layers"]
    float_tflite = (out / "model_float32.tflite").read_bytes()
    nodes = nodes_of(layer_groups(model, float_tflite), layers)
    # litert-quantizer matches re.search on each op's output tensor name; the first fused name suffices
    regex = "|".join(re.escape(n.split(";")[0]) for n in nodes)
    input_name = LiteRTSession(out / "model_float32.tflite").input["name"].split(":")[0].removeprefix(
        "serving_default_")
    files = {"converter denylist (compress's mixed)": out / "model_int8.tflite"}
    seconds = {}
    for label, rx, kept in (("litert-quantizer full int8", None, "float"),
                            ("litert-quantizer selective float", regex, "float"),
                            ("litert-quantizer selective int16", regex, "int16")):
        start = time.perf_counter()
        path = out / f"lq_{label.split()[-2]}_{kept}.tflite" if rx else out / "lq_full_int8.tflite"
        try:
            path.write_bytes(selective(float_tflite, calibration, input_name, rx, kept))
        except Exception as exc:  # a recipe the tool refuses is a result too
            print(json.dumps({label: f"failed: {type(exc).__name__}: {str(exc)[:300]}"}), flush=True)
            continue
        seconds[label] = round(time.perf_counter() - start, 1)
        files[label] = path
    runtime = LiteRTCPU()
    p50 = measure_interleaved(list(files.values()), lambda path: runtime.load(path, threads=a.threads),
                              val.batch([0])[0].astype(np.float32), min_seconds=a.seconds)
    rows = {}
    for (label, path), ms in zip(files.items(), p50):
        tpu = check(path)
        rows[label] = {"file": path.name, "bytes": path.stat().st_size,
                       "dice": round(evaluate_predictor(LiteRTSession(path).run, val)["dice"], 5),
                       "p50_ms": round(ms, 3), "quantize_seconds": seconds.get(label),
                       "edgetpu_cpu_ops": sorted({v.op for v in tpu.ops if not v.on_tpu})}
    print(json.dumps({"model": report.model, "float_dice": report.baseline.dice, "layers": layers,
                      "nodes": list(nodes), "threads": a.threads, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
