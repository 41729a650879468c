"""Benchmark: compress on the seed U-Net (256x256x1, 1,925,025 parameters) trained on synthetic data.

Measures, in one run on this machine:
- int8 TFLite bytes / float32 TFLite bytes, and int8 Dice / float Dice;
- gzip(float32 TFLite) / gzip(pruned 80% + int8 TFLite), and pruned+int8 Dice / float Dice;
- wall time of the post-training-only path (compress --sparsity 0: no fine-tuning).

Usage: .venv/bin/python benchmarks/compress_seed.py [--out .edgeseg/bench_seed] [--epochs 5]
The trained seed model is cached in OUT/seed.keras and reused on later runs.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from edgeseg.compress.pipeline import compress
from edgeseg.config import CompressConfig, DataConfig, ModelConfig, TrainConfig
from edgeseg.training import train


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=".edgeseg/bench_seed")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--train-images", type=int, default=256)
    parser.add_argument("--val-images", type=int, default=32)
    parser.add_argument("--sparsity", type=float, default=0.8)
    parser.add_argument("--finetune-steps", type=int, default=300)
    parser.add_argument("--finetune-lr", type=float, default=5e-4)
    parser.add_argument("--ptq-only", action="store_true", help="time the post-training path alone")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = DataConfig(synthetic_train=args.train_images, synthetic_val=args.val_images)
    model_path = out / "seed.keras"
    summary: dict = {"machine": f"{platform.processor() or platform.machine()}, {platform.node()}",
                     "args": vars(args)}
    if not model_path.exists():
        start = time.perf_counter()
        trained = train(TrainConfig(model=ModelConfig(arch="unet", preset="seed"), data=data, epochs=args.epochs,
                                    batch_size=8, learning_rate=1e-3, patience=3), model_path)
        summary["train_seconds"] = round(time.perf_counter() - start, 1)
        summary["parameters"] = trained.parameters

    start = time.perf_counter()
    ptq = compress(model_path, CompressConfig(data=data, prune="none", calibration_samples=32, batch_size=8),
                   out / "ptq", force=True).to_dict()  # the summary below is JSON
    summary["ptq_only_wall_seconds"] = round(time.perf_counter() - start, 1)
    summary["timings_ptq"] = ptq["timings"]
    if args.ptq_only:
        print(json.dumps(summary, indent=2))
        return

    full = compress(model_path, CompressConfig(data=data, prune="magnitude", sparsity=args.sparsity, batch_size=8,
                                               finetune_steps=args.finetune_steps, finetune_lr=args.finetune_lr,
                                               calibration_samples=32),
                    out / "pruned", force=True).to_dict()
    rows = {a["path"]: a for a in full["artifacts"]}
    f32, i8, pi8 = rows["model_float32.tflite"], rows["model_int8.tflite"], rows["model_pruned_int8.tflite"]
    base = full["baseline"]["dice"]
    summary.update({
        "float_keras_dice": base,
        "int8_bytes_ratio": round(i8["bytes"] / f32["bytes"], 4),
        "int8_dice_ratio": round(i8["dice"] / base, 4), "int8_method": i8["method"],
        "pruned_int8_gzip_reduction": round(f32["gzip_bytes"] / pi8["gzip_bytes"], 2),
        "pruned_int8_dice_ratio": round(pi8["dice"] / base, 4), "pruned_int8_method": pi8["method"],
        "pruned_sparsity_model": full["pruning"]["sparsity_model"], "pruned_sparsity_artifact": pi8["sparsity"],
        "artifacts": {k: {"bytes": v["bytes"], "gzip_bytes": v["gzip_bytes"], "dice": v["dice"],
                          "deployable": v["deployable"]} for k, v in rows.items()},
        "timings_full": full["timings"],
    })
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
