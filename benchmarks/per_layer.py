"""Benchmark (issue 23, item 2): latency-aware per-layer channel counts against a uniform ratio,
on the hand-annotated small-data model (benchmarks/small_data.py --dataset dsb: the seed U-Net at
128x128 on 35 DSB2018 tiles).

1. The latency table: each prunable channel space cut alone to each candidate count, int8, timed on
   litert-cpu (2 threads) beside the unpruned int8 model in one interleaved run per space
   (edgeseg.prune.latency_table; cached in OUT/latency_table.json per runtime and machine).
2. Per-layer counts for a latency target (plain int8 p50 / --speedup), chosen on the table by
   latency saved per Taylor importance removed (edgeseg.prune.per_layer), and the uniform
   --ratio model; both fine-tuned with the same step budget, then int8.
3. Plain int8, uniform and per-layer int8 timed interleaved in one run; int8 Dice in LiteRT.

Usage: PYTHONPATH=. .venv/bin/python benchmarks/per_layer.py [--out .edgeseg/small_data_dsb]
       [--speedup 2.5] [--ratio 0.5] [--steps 300] [--threads 2]
Needs the model and tiles of `benchmarks/small_data.py --dataset dsb --train-only`."""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=".edgeseg/small_data_dsb")
    parser.add_argument("--speedup", type=float, default=2.5, help="target: plain int8 p50 / this")
    parser.add_argument("--ratio", type=float, default=0.5, help="the uniform model's channel ratio")
    parser.add_argument("--steps", type=int, default=300, help="fine-tuning steps of both pruned models")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--min-seconds", type=float, default=1.5, help="timing per model per interleaved run")
    args = parser.parse_args()

    from edgeseg.artifacts.files import sha256
    from edgeseg.artifacts.tflite import finalize
    from edgeseg.config import DataConfig
    from edgeseg.data.dataset import calibration_images, load_splits
    from edgeseg.models.io import load_model
    from edgeseg.prune.channels import prune_channels, space_scores
    from edgeseg.prune.latency_table import cache_key, cached_table, measure_table, store_table
    from edgeseg.prune.per_layer import choose_counts
    from edgeseg.prune.ranking import taylor_scores
    from edgeseg.quantize.tflite_int8 import calibrate, quantize_calibrated
    from edgeseg.runtimes import REGISTRY
    from edgeseg.runtimes.machine import machine_info
    from edgeseg.scoring.predictors import evaluate_predictor, keras_predictor
    from edgeseg.scoring.verify import verify
    from edgeseg.search.timing import measure_interleaved
    from edgeseg.training.finetune import FinetuneBudget, finetune

    out = Path(args.out)
    model_path = out / "seed128.keras"
    model, spec = load_model(model_path)
    train, val = load_splits(DataConfig(source=str(out / "data")), spec)
    calibration = calibration_images(train, 32, 8)
    runtime = REGISTRY["litert-cpu"]
    image = val.batch([0])[0].astype("float32")
    folder = out / "per_layer"
    folder.mkdir(exist_ok=True)
    built = iter(range(10**6))

    def int8(m, name: str | None = None) -> Path:
        path = folder / (name or f"t{next(built):04d}.tflite")
        path.write_bytes(finalize(quantize_calibrated(calibrate(m, calibration), True), spec.to_dict()))
        return path

    def time_paths(paths: list[Path]) -> list[float]:
        return measure_interleaved(paths, lambda p: runtime.load(p, args.threads), image, min_seconds=args.min_seconds)

    machine = machine_info(args.threads).get("label") or platform.node()
    key = cache_key(sha256(model_path), runtime.name, machine, args.threads)
    table, start = cached_table(out / "latency_table.json", key), time.perf_counter()
    if table is None:
        table = measure_table({n: len(s) for n, s in space_scores(model).items()},
                              lambda counts: int8(prune_channels(model, 0.0, counts=counts).model if counts else model),
                              time_paths, runtime.name, machine, args.threads, log=print)
        store_table(out / "latency_table.json", key, table)
    table_seconds = time.perf_counter() - start
    taylor = taylor_scores(model, train, spec.classes)
    importance = space_scores(model, taylor)
    choice = choose_counts(table.rows, importance, table.base_ms, table.base_ms / args.speedup, table.noise_ms)
    print(f"per-layer choice: estimated {choice.estimated_ms:.3f} ms of {table.base_ms:.3f} (reached: "
          f"{choice.reached}); counts {choice.counts}")

    budget = FinetuneBudget(max_steps=args.steps, min_steps=args.steps)
    rows = {}
    for name, pruned in (("uniform", prune_channels(model, args.ratio, taylor)),
                         ("per_layer", prune_channels(model, 0.0, taylor, counts=choice.counts))):
        start = time.perf_counter()
        tuned = finetune(pruned.model, train, val, budget, spec.classes, 8, verbose=0, log=lambda _: None)
        path = int8(pruned.model, f"{name}_int8.tflite")
        dice = verify(path, val, keras_predictor(pruned.model, 8), 8).scores["dice"]
        rows[name] = {"float_dice": tuned.best_dice, "int8_dice": dice, "kept": pruned.kept,
                      "finetune_seconds": round(time.perf_counter() - start, 1), "path": path}
    plain = int8(model, "plain_int8.tflite")
    base_dice = verify(plain, val, keras_predictor(model, 8), 8).scores["dice"]
    float_dice = evaluate_predictor(keras_predictor(model, 8), val, 8)["dice"]
    p50 = time_paths([plain, rows["uniform"]["path"], rows["per_layer"]["path"]])
    summary = {"machine": machine, "threads": args.threads, "table_seconds": round(table_seconds, 1),
               "table": table.to_dict(), "choice": choice.to_dict(), "float_dice": float_dice,
               "plain_int8": {"dice": base_dice, "p50_ms": p50[0]}}
    for (name, row), ms in zip(rows.items(), p50[1:]):
        summary[name] = {k: v for k, v in row.items() if k != "path"} | {
            "p50_ms": ms, "speedup_vs_plain_int8": p50[0] / ms, "int8_dice_ratio": row["int8_dice"] / float_dice}
    (out / "per_layer_summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(f"float Dice {float_dice:.4f}; plain int8 {p50[0]:.3f} ms, Dice {base_dice:.4f}")
    for name in rows:
        s = summary[name]
        print(f"{name:<10} int8 {s['p50_ms']:.3f} ms ({s['speedup_vs_plain_int8']:.2f}x plain int8), "
              f"Dice {s['int8_dice']:.4f} ({s['int8_dice_ratio']:.4f}x float)")


if __name__ == "__main__":
    main()
