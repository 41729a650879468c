"""Benchmark (issue 23, the 2.5x target): buy int8 speed with fewer pixels where channels cannot.

On this CPU XNNPACK's int8 3x3 convolution at 128x128 costs ~0.7 ms whatever its channels (the
per-op profile in RESULTS.md), so channel pruning stops at ~1.4x. Here the network runs at a lower
input resolution inside a wrapper that keeps the user's: Input(H,W,C) -> bilinear resize by s ->
the same network (same weights) at (H*s, W*s) -> bilinear resize back to (H,W)
(edgeseg/prune/resolution.at_scale), optionally after Taylor channel pruning (prune_channels at
--ratios). Each variant is fine-tuned end to end on the full-resolution masks (training/finetune,
the step budget scaled by the share of pixel-convolutions removed, as compress scales it by the
share of filters), quantized by compress's int8 path (litert-quantizer PTQ, finalize), then:
its int8 Dice at full resolution in LiteRT on the validation tiles against the float model's,
and its int8 latency against plain int8 of the original, all timed interleaved in one run.
Also: each int8 file's resize ops and whether XNNPACK runs them, the Edge TPU op check, and an
ONNX export of one variant run in onnxruntime.

--latency-only: no fine-tuning, 2 calibration images: what each variant could buy at best.

Usage: PYTHONPATH=. .venv/bin/python benchmarks/resolution.py [--model .edgeseg/small_data_dsb/seed128.keras]
       [--data .edgeseg/small_data_dsb/data] [--scales 0.5,0.75] [--ratios 0,0.5,0.75] [--steps 300]
       [--threads 2] [--min-seconds 5] [--latency-only] [--json benchmarks/results/resolution_dsb128_cpu.json]"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

MAIN = Path("/work/main/.edgeseg/small_data_dsb")


def litert_dice(path: Path, val, spec, threads: int) -> float:
    from edgeseg.metrics import ScoreAccumulator
    from edgeseg.runtimes import REGISTRY

    session = REGISTRY["litert-cpu"].load(path, threads=threads)
    acc = ScoreAccumulator(labels=2)
    for images, truth in val.batches(8):
        probs = np.concatenate([np.asarray(session.run(images[j:j + 1])) for j in range(len(images))])
        acc.update((probs[..., 0] > spec.threshold).astype(np.int32), truth)
    return float(acc.result()["dice"])


def int8_bytes(model, calibration, spec) -> bytes:
    from edgeseg.artifacts.tflite import finalize
    from edgeseg.export.tflite import convert_float32
    from edgeseg.quantize.litert_quantizer import quantize_int8

    return finalize(quantize_int8(convert_float32(model), calibration, True, "min-max"), spec.to_dict())


def ops_of(path: Path, threads: int) -> dict:
    from edgeseg.artifacts.edgetpu import check
    from edgeseg.runtimes.litert_profile import profile_ops

    prof = profile_ops(path, threads, warmup=2, runs=10)
    resize = [{"op": r["op"], "in": r["inputs"][0], "out": r["outputs"][0], "delegated": r["delegated"],
               "ms": round(r["ms"], 3)} for r in prof["ops"] if r["op"].startswith("RESIZE")]
    tpu = check(path)
    return {"partitions": prof["partitions"], "resize_ops": resize,
            "not_delegated": sorted({r["op"] for r in prof["ops"] if not r["delegated"] and r["backend"] != "at load"}),
            "edgetpu_ready": tpu.ready, "edgetpu_cut": str(tpu.cut) if tpu.cut else None}


def onnx_check(model, spec, val, tmp: Path) -> dict:
    from edgeseg.export.onnx import export_onnx
    import onnxruntime as ort

    path = export_onnx(model, tmp / "resolution.onnx", spec=spec.to_dict())
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    image = val.batch([0])[0].astype(np.float32)
    out = session.run(None, {session.get_inputs()[0].name: image})[0]
    ref = np.asarray(model(image, training=False))
    return {"ok": out.shape == ref.shape, "shape": list(out.shape), "max_diff_vs_keras": float(np.abs(out - ref).max()),
            "ops": sorted({n.op_type for n in __import__("onnx").load(str(path)).graph.node})}


def variant(model, spec, train, val, scale: float, ratio: float, steps: int, target: float, latency_only: bool,
            scores) -> tuple[object, dict]:
    from edgeseg.prune.channels import prune_channels
    from edgeseg.prune.progressive import step_scale
    from edgeseg.prune.resolution import at_scale
    from edgeseg.scoring.predictors import evaluate_predictor, keras_predictor
    from edgeseg.training.finetune import FinetuneBudget, finetune

    start = time.perf_counter()
    inner = prune_channels(model, ratio, measured=scores).model if ratio else model
    built = at_scale(inner, scale) if scale < 1 else inner
    row = {"scale": scale, "ratio": ratio, "parameters": int(built.count_params())}
    if latency_only:
        return built, row
    removed = 1 - scale * scale * (1 - ratio) ** 2  # share of the convolutions' multiply-adds removed
    most = 2.0
    budget = FinetuneBudget(max_steps=round(steps * step_scale(removed, most)), min_steps=min(100, steps))
    result = finetune(built, train, val, budget, spec.classes, 8, target_dice=target, seed=0, verbose=0,
                      log=lambda s: None)
    row.update({"steps": result.steps, "stopped_because": result.stopped_because,
                "float_dice_keras": round(evaluate_predictor(keras_predictor(built, 8), val, 8)["dice"], 4),
                "finetune_s": round(time.perf_counter() - start, 1)})
    return built, row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=str(MAIN / "seed128.keras"))
    parser.add_argument("--data", default=str(MAIN / "data"))
    parser.add_argument("--scales", default="0.5,0.75")
    parser.add_argument("--ratios", default="0,0.5,0.75")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--min-seconds", type=float, default=5.0)
    parser.add_argument("--latency-only", action="store_true")
    parser.add_argument("--json", default="benchmarks/results/resolution_dsb128_cpu.json")
    args = parser.parse_args()

    from edgeseg.config import DataConfig
    from edgeseg.data.dataset import calibration_images, load_splits
    from edgeseg.models.io import load_model
    from edgeseg.prune.ranking import taylor_scores
    from edgeseg.runtimes import REGISTRY
    from edgeseg.runtimes.machine import machine_info
    from edgeseg.scoring.predictors import evaluate_predictor, keras_predictor
    from edgeseg.search.timing import measure_interleaved

    wall = time.perf_counter()
    model, spec = load_model(Path(args.model))
    train, val = load_splits(DataConfig(source=args.data), spec)
    float_dice = evaluate_predictor(keras_predictor(model, 8), val, 8)["dice"]
    calibration = calibration_images(train, 2 if args.latency_only else 32, 8)
    scores = taylor_scores(model, train, spec.classes)
    print(f"float Dice {float_dice:.4f}", flush=True)
    out = Path(args.json)
    results = {"machine": machine_info(args.threads), "model": args.model, "float_dice": round(float_dice, 4),
               "latency_only": args.latency_only, "steps": args.steps, "rows": []}
    runtime = REGISTRY["litert-cpu"]
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        plain = tmp / "plain.tflite"
        plain.write_bytes(int8_bytes(model, calibration, spec))
        rows = [{"scale": 1.0, "ratio": 0.0, "variant": "plain int8", "parameters": int(model.count_params())}]
        paths = [plain]
        wrapped = None
        for scale in (float(s) for s in args.scales.split(",")):
            for ratio in (float(r) for r in args.ratios.split(",")):
                built, row = variant(model, spec, train, val, scale, ratio, args.steps, 0.99 * float_dice,
                                     args.latency_only, scores)
                path = tmp / f"s{scale}_r{ratio}.tflite"
                path.write_bytes(int8_bytes(built, calibration, spec))
                row["variant"] = f"scale {scale:g}, channels -{ratio:g}"
                rows.append(row)
                paths.append(path)
                wrapped = wrapped or built
                print(json.dumps(row), flush=True)
        for row, path in zip(rows, paths):
            row["bytes"] = path.stat().st_size
            if not args.latency_only:
                row["int8_dice"] = round(litert_dice(path, val, spec, args.threads), 4)
                row["vs_float"] = round(row["int8_dice"] / float_dice, 4)
        results["load_before_timing"] = os.getloadavg()
        image = val.batch([0])[0].astype(np.float32)
        p50 = measure_interleaved(paths, lambda p: runtime.load(p, threads=args.threads), image,
                                  min_seconds=args.min_seconds)
        results["load_after_timing"] = os.getloadavg()
        for row, ms in zip(rows, p50):
            row["p50_ms"] = round(ms, 3)
            row["speedup_vs_plain_int8"] = round(p50[0] / ms, 3)
        results["ops"] = {row["variant"]: ops_of(path, args.threads) for row, path in zip(rows, paths)
                          if row["scale"] < 1 and row["ratio"] == 0}
        results["onnx"] = onnx_check(wrapped, spec, val, tmp) if wrapped is not None else None
    results["rows"] = rows
    results["wall_s"] = round(time.perf_counter() - wall, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    for row in rows:
        print(f"{row['variant']:<28} p50 {row['p50_ms']:.3f} ms  {row['speedup_vs_plain_int8']:.2f}x  "
              f"Dice {row.get('int8_dice', float('nan')):.4f} ({row.get('vs_float', float('nan')):.4f}x)")
    print(json.dumps({"ops": results["ops"], "onnx": results["onnx"]}, indent=1))


if __name__ == "__main__":
    main()
