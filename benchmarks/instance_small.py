"""Benchmark (issue 16): float vs full-int8 PQ and F1@0.5 of a trained instance U-Net on
synthetic touching objects, each scored in its own runtime with the decoding settings tuned on
the float model and stored in the spec.

Trains the small preset (64x64, 8 base filters) with `--task instance`, converts it with
edgeseg's exporter (plain post-training int8, int8 I/O, calibrated on training images) and
scores Keras (float) and LiteRT (int8) on the same validation images. Also reports how well the
int8 model's instances agree with the float model's (PQ of int8 against float as truth).

Usage: PYTHONPATH=. .venv/bin/python benchmarks/instance_small.py [--out .edgeseg/instance_small] [--epochs 15]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from edgeseg.config import DataConfig, ModelConfig, TrainConfig
from edgeseg.data.instance_data import load_instance_splits
from edgeseg.instances.decode import DecodeSettings
from edgeseg.scoring.predictors import keras_predictor
from edgeseg.instances.scoring import instance_agreement, predict_all, score_outputs, tune_decoding
from edgeseg.instances.cross_fit import cross_fit
from edgeseg.quantize.tflite_int8 import calibrate, quantize_calibrated
from edgeseg.models.io import load_model
from edgeseg.runtimes.litert import LiteRTSession
from edgeseg.artifacts.tflite import finalize
from edgeseg.training import train

HELD_OUT_FOLDS = (2, 4, 16)


def train_and_compare(out: Path, data: DataConfig, preset: str, epochs: int, boundary: bool,
                      calibration: int = 64, learning_rate: float = 3e-3, patience: int = 5) -> dict:
    """Trains an instance U-Net, converts it to int8 and scores both; writes OUT/summary.json."""
    out.mkdir(parents=True, exist_ok=True)
    config = TrainConfig(model=ModelConfig(preset=preset, task="instance", boundary=boundary), data=data,
                         epochs=epochs, batch_size=16, learning_rate=learning_rate, patience=patience, verbose=2)
    start = time.perf_counter()
    train(config, out / "instance.keras", force=True)
    train_s = time.perf_counter() - start
    model, spec = load_model(out / "instance.keras")
    settings = DecodeSettings.from_dict(spec.decode)
    train_data, val_data = load_instance_splits(data, spec, boundary=boundary)
    int8_path = out / "model_int8.tflite"
    calibration_images = train_data.batch(range(min(calibration, len(train_data))))[0]
    int8_path.write_bytes(finalize(quantize_calibrated(calibrate(model, calibration_images)), spec.to_dict()))
    float_out, truths = predict_all(keras_predictor(model), val_data)
    int8_out, _ = predict_all(LiteRTSession(int8_path, threads=2).run, val_data)
    float_scores = score_outputs(float_out, truths, settings)
    int8_scores = score_outputs(int8_out, truths, settings)
    agree = instance_agreement(float_out, int8_out, settings)
    retuned = tune_decoding(int8_out, truths, settings)  # the guard's second remedy, for the artifact
    held = held_out(float_out, int8_out, truths, settings)
    summary = {"train_seconds": round(train_s, 1), "train_images": len(train_data), "settings": settings.to_dict(),
               "float": float_scores, "int8": int8_scores, "int8_vs_float_instances": agree,
               "int8_retuned": {"settings": retuned.settings.to_dict(), "scores": retuned.scores},
               "held_out": {f"{name} k={k}": h.to_dict() for (name, k), h in held.items()}}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    for name, s in (("float (Keras)", float_scores), ("int8 (LiteRT)", int8_scores)):
        print(f"{name:<14} PQ {s['pq']:.4f}  F1@0.5 {s['f1']:.4f}  AJI {s['aji']:.4f}  "
              f"count error {s['count_mae']:.2f}/image  ({s['true_objects']} objects, {s['images']} images)")
    print(f"int8 - float: PQ {int8_scores['pq'] - float_scores['pq']:+.4f}  "
          f"F1 {int8_scores['f1'] - float_scores['f1']:+.4f}   int8 instances against float ones: PQ {agree['pq']:.4f} F1 {agree['f1']:.4f}")
    print(f"int8 with decoding re-tuned for it (foreground {retuned.settings.foreground}, seed "
          f"{retuned.settings.seed}): PQ {retuned.scores['pq']:.4f} F1@0.5 {retuned.scores['f1']:.4f}")
    in_sample = {"float": float_scores, "int8": int8_scores, "int8_retuned": retuned.scores}
    for (name, _), h in held.items():
        print(f"{name:<13} in-sample PQ {in_sample[name]['pq']:.4f} F1@0.5 {in_sample[name]['f1']:.4f}   held-out "
              f"({len(h.folds)}-fold) PQ {h.scores['pq']:.4f} F1@0.5 {h.scores['f1']:.4f}   fold settings "
              f"{[(f.foreground, f.seed) for f in h.fold_settings]}")
    print(f"trained in {train_s:.0f} s; decode settings {settings.to_dict()}")
    return summary


def held_out(float_out: list, int8_out: list, truths: list, settings: DecodeSettings) -> dict:
    """(name, k) -> cross-fitted scores (edgeseg/evaluate_heldout.py): every image decoded with
    settings tuned without it; the float's tuning on float outputs (the int8 outputs decoded with
    those too), the int8 re-tuning on int8's. compress uses folds_for(n): leave-one-out up to 16
    images, k = 2 above; larger k tunes on more images (k = 16 is leave-one-out on 16 validation images)."""
    tuned_on = {"float": (float_out, float_out), "int8": (float_out, int8_out), "int8_retuned": (int8_out, int8_out)}
    return {(name, k): cross_fit(tuning, truths, settings, folds=k, scored=scored)
            for k in HELD_OUT_FOLDS for name, (tuning, scored) in tuned_on.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=".edgeseg/instance_small")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--train", type=int, default=512)
    parser.add_argument("--val", type=int, default=64)
    parser.add_argument("--boundary", action="store_true")
    args = parser.parse_args()
    train_and_compare(Path(args.out), DataConfig(synthetic_train=args.train, synthetic_val=args.val), "small",
                      args.epochs, args.boundary)


if __name__ == "__main__":
    main()
