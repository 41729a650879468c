"""Benchmark (issue 16): decoding tuned with and without the distance smoothing setting, on the
SAME trained model and int8 artifact (the output directory of instance_small.py or
instance_dsb.py: OUT/instance.keras and OUT/model_int8.tflite).

For each grid (the thresholds alone, as before the setting existed; the default grid with
smoothing), the decoding is tuned on the float model's outputs, the int8 artifact (LiteRT) is
decoded with those settings (plain PTQ, the first rung of compress's ladder), and then re-tuned
for the artifact (the retuned-decoding rung). All on the validation split the scripts trained
against. In-sample figures tune and score on the same images; the held-out ones (as compress
judges re-tuned artifacts: evaluate_heldout.cross_fit with compress's folds_for) decode each
image with settings tuned without it, the int8 outputs with the float model's fold settings.

Usage: PYTHONPATH=. .venv/bin/python benchmarks/instance_smoothing.py OUT --source OUT/crops
       PYTHONPATH=. .venv/bin/python benchmarks/instance_smoothing.py OUT --synthetic-train 512 --synthetic-val 64
"""
from __future__ import annotations

import argparse
from pathlib import Path

from edgeseg.config import DataConfig
from edgeseg.data.instance_data import load_instance_splits
from edgeseg.instances.decode import DecodeSettings
from edgeseg.scoring.predictors import keras_predictor
from edgeseg.instances.cross_fit import cross_fit, folds_for
from edgeseg.instances.scoring import DEFAULT_GRID, predict_all, score_outputs, tune_decoding
from edgeseg.models.io import load_model
from edgeseg.runtimes.litert import LiteRTSession


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--source", help="the recorded data directory (instance_dsb.py: OUT/crops)")
    parser.add_argument("--synthetic-train", type=int, default=512)
    parser.add_argument("--synthetic-val", type=int, default=64)
    args = parser.parse_args()
    data = DataConfig(source=args.source) if args.source else DataConfig(synthetic_train=args.synthetic_train,
                                                                         synthetic_val=args.synthetic_val)
    model, spec = load_model(args.out / "instance.keras")
    _, val = load_instance_splits(data, spec, boundary=spec.instance_channels == 3)
    float_out, truths = predict_all(keras_predictor(model), val)
    int8_out, _ = predict_all(LiteRTSession(args.out / "model_int8.tflite", threads=2).run, val)
    thresholds_only = {k: v for k, v in DEFAULT_GRID.items() if k != "smooth"}
    for name, grid in (("thresholds only", thresholds_only), ("with smoothing", DEFAULT_GRID)):
        tuned = tune_decoding(float_out, truths, DecodeSettings(), grid)
        f, i = tuned.scores, score_outputs(int8_out, truths, tuned.settings)
        retuned = tune_decoding(int8_out, truths, tuned.settings, grid)
        r, s = retuned.scores, tuned.settings
        print(f"{name}: float tuned (foreground {s.foreground}, seed {s.seed}, smooth {s.smooth}) PQ {f['pq']:.4f} "
              f"F1 {f['f1']:.4f}; int8 PQ {i['pq']:.4f} F1 {i['f1']:.4f} (PQ {i['pq'] - f['pq']:+.4f}, "
              f"F1 {i['f1'] - f['f1']:+.4f}); int8 re-tuned (smooth {retuned.settings.smooth}) PQ {r['pq']:.4f} "
              f"F1 {r['f1']:.4f}  [{f['true_objects']} objects, {f['images']} images]")
        k = folds_for(len(truths))
        held_float = cross_fit(float_out, truths, DecodeSettings(), grid, k).scores
        held_int8 = cross_fit(float_out, truths, DecodeSettings(), grid, k, scored=int8_out).scores
        print(f"  held out ({k} folds): float PQ {held_float['pq']:.4f} F1 {held_float['f1']:.4f}; int8 PQ "
              f"{held_int8['pq']:.4f} F1 {held_int8['f1']:.4f} (PQ {held_int8['pq'] - held_float['pq']:+.4f}, "
              f"F1 {held_int8['f1'] - held_float['f1']:+.4f})")


if __name__ == "__main__":
    main()
