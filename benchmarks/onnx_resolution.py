"""Benchmark (issue 23: ONNX int8 within 1.3x of LiteRT int8): the int8 ONNX of the input-resolution
winner (prune/resolution.at_scale(model, 0.5)) and of the plain seed against their int8 TFLite.

Latency does not depend on training, so the untrained wrapper of the DSB seed is used. For each model
(plain, at_scale 0.5): the int8 TFLite as compress makes it (litert-quantizer PTQ, finalize) and the
int8 ONNX under each OnnxInt8Settings variant (quantize/onnx_int8.py), all calibrated on the same 32
DSB training images; each file's Dice on the 7 hand-annotated validation tiles in its runtime, its
largest output difference from the current ONNX int8 ("before": copy_upsample off), onnxruntime's
per-node profile by op type, and every file of both models timed together in one interleaved run
(litert-cpu and ort-cpu, onnxruntime without spinning as edgeseg bench runs it).

Usage: PYTHONPATH=. .venv/bin/python benchmarks/onnx_resolution.py [--model .edgeseg/small_data_dsb/seed128.keras]
       [--data .edgeseg/small_data_dsb/data] [--threads 2] [--min-seconds 4] [--variants before,default,qoperator]
       [--json benchmarks/results/onnx_resolution_dsb128_cpu.json]"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

MAIN = Path("/work/main/.edgeseg/small_data_dsb")


def variants() -> dict:
    from edgeseg.quantize.onnx_int8 import OnnxInt8Settings

    return {"before": OnnxInt8Settings(copy_upsample=False),  # what compress built until this change
            "default": OnnxInt8Settings(),
            "exact-resize": OnnxInt8Settings(copy_upsample=False, exact_resize=True),
            "qoperator": OnnxInt8Settings(quant_format="QOperator"),
            "per-tensor": OnnxInt8Settings(per_channel=False),
            "no-preprocess": OnnxInt8Settings(pre_process=False)}


def by_type(path: Path, threads: int, image: np.ndarray) -> dict:
    from edgeseg.bench.profile import profile_row
    from edgeseg.runtimes import REGISTRY

    runtime = REGISTRY["ort-cpu" if path.suffix == ".onnx" else "litert-cpu"]
    profile = profile_row(runtime, path, threads, image, 20)
    if not profile["available"]:
        return {"reason": profile["reason"]}
    return {"ops_ms": round(profile["ops_ms"], 3),
            "by_type": {k: {"count": v.get("count"), "ms": round(v["ms"], 3),
                            "gmac_s": round(v["gmac_s"], 1) if v.get("gmac_s") else None}
                        for k, v in profile["by_type"].items()},
            "resize_or_copy": [{"op": r["op"], "in": r["inputs"][0], "out": r["outputs"][0], "ms": round(r["ms"], 3)}
                               for r in profile["ops"] if r["op"] in ("Resize", "QLinearConcat", "RESIZE_BILINEAR")]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=str(MAIN / "seed128.keras"))
    parser.add_argument("--data", default=str(MAIN / "data"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--min-seconds", type=float, default=4.0)
    parser.add_argument("--variants", default="before,default,qoperator")
    parser.add_argument("--json", default="benchmarks/results/onnx_resolution_dsb128_cpu.json")
    args = parser.parse_args()

    from edgeseg.config import DataConfig
    from edgeseg.data.dataset import calibration_images, load_splits
    from edgeseg.export.onnx import export_onnx
    from edgeseg.models.io import load_model
    from edgeseg.prune.resolution import at_scale
    from edgeseg.quantize.onnx_int8 import quantize_onnx_int8
    from edgeseg.runtimes import REGISTRY
    from edgeseg.runtimes.machine import machine_info
    from edgeseg.scoring.predictors import evaluate_predictor
    from edgeseg.search.timing import measure_interleaved
    from resolution import int8_bytes  # same folder: compress's TFLite int8 path

    wall = time.perf_counter()
    model, spec = load_model(Path(args.model))
    train, val = load_splits(DataConfig(source=args.data), spec)
    calibration = calibration_images(train, 32, 8)
    image = val.batch([0])[0].astype(np.float32)
    chosen = {name: variants()[name] for name in args.variants.split(",")}
    results = {"machine": machine_info(args.threads), "model": args.model, "threads": args.threads, "models": {}}
    files: list[tuple[str, str, Path]] = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for label, built in (("plain", model), ("scale 0.5", at_scale(model, 0.5))):
            stem = label.replace(" ", "_")
            tflite = tmp / f"{stem}.tflite"
            tflite.write_bytes(int8_bytes(built, calibration, spec))
            float_onnx = export_onnx(built, tmp / f"{stem}.onnx", spec=spec.to_dict())
            rows = {"litert int8": {"file": tflite}}
            for name, settings in chosen.items():
                path = quantize_onnx_int8(float_onnx, tmp / f"{stem}_{name}.onnx", calibration, spec.to_dict(),
                                          settings=settings)
                rows[f"onnx int8 {name}"] = {"file": path, "settings": dataclasses.asdict(settings)}
            reference = REGISTRY["ort-cpu"].load(rows["onnx int8 before"]["file"], args.threads).run \
                if "before" in chosen else None
            for row in rows.values():
                runtime = REGISTRY["ort-cpu" if row["file"].suffix == ".onnx" else "litert-cpu"]
                scores = evaluate_predictor(runtime.load(row["file"], args.threads).run, val, 8,
                                            reference=reference if row["file"].suffix == ".onnx" else None)
                row["dice"] = round(scores["dice"], 4)
                row.update({k: round(float(scores[k]), 6) for k in ("max_abs_diff", "mask_agreement") if k in scores})
                row["profile"] = by_type(row["file"], args.threads, image)
                files.append((label, next(k for k, v in rows.items() if v is row), row["file"]))
                print(label, files[-1][1], json.dumps({k: v for k, v in row.items() if k not in ("file", "profile")}),
                      flush=True)
            results["models"][label] = rows
        results["load_before_timing"] = os.getloadavg()
        p50 = measure_interleaved([f for _, _, f in files],
                                  lambda p: REGISTRY["ort-cpu" if p.suffix == ".onnx" else "litert-cpu"].load(
                                      p, args.threads), image, min_runs=200, min_seconds=args.min_seconds)
        results["load_after_timing"] = os.getloadavg()
        for (label, name, path), ms in zip(files, p50):
            results["models"][label][name]["p50_ms"] = round(ms, 3)
        for rows in results["models"].values():
            for row in rows.values():
                row["file"] = row["file"].name
                row["vs_litert_int8"] = round(row["p50_ms"] / rows["litert int8"]["p50_ms"], 3)
    results["wall_s"] = round(time.perf_counter() - wall, 1)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    for label, rows in results["models"].items():
        for name, row in rows.items():
            print(f"{label:10s} {name:24s} p50 {row['p50_ms']:.3f} ms  {row['vs_litert_int8']:.2f}x LiteRT int8  "
                  f"Dice {row['dice']:.4f}  " + json.dumps(row["profile"].get("by_type", {})))


if __name__ == "__main__":
    main()
