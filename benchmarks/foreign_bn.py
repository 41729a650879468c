"""Benchmark (issue 24, items 1, 3, 4): 50% channel pruning of a nested MobileNetV2-style U-Net
whose BatchNorms keep momentum 0.999, with and without BatchNorm re-estimation; float and int8
Dice against the original float model's, counted with both `p > 0.5` and `p >= 0.5`.

The "user's model": the nested MobileNetV2-style U-Net of tests/foreign_zoo.py (encoder Model,
Sequential Conv2DTranspose blocks), widened by --filters, trained on synthetic data; its
statistics are re-estimated once after training, standing in for a model whose statistics
converged over a long training (a few hundred steps at momentum 0.999 would leave them stale).

Usage: PYTHONPATH=. .venv/bin/python benchmarks/foreign_bn.py [--size 64] [--train-steps 600]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def dice_both_rules(predict, val, batch_size: int) -> dict:
    from edgeseg.metrics import collapse_facts, collapse_reason

    probs, truth = [], []
    for images, labels in val.batches(batch_size):
        probs.append(np.asarray(predict(images), np.float32))
        truth.append(labels > 0)
    p, t = np.concatenate(probs)[..., 0], np.concatenate(truth)

    def dice(mask):
        total = mask.sum() + t.sum()
        return float(2 * (mask & t).sum() / total) if total else 1.0

    facts = collapse_facts(p[..., None])
    return {"dice_gt": round(dice(p > 0.5), 4), "dice_ge": round(dice(p >= 0.5), 4), "max_prob": round(float(p.max()), 4),
            "near_share": round(facts["collapse_near_share"], 4), "collapsed": collapse_reason(facts)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--filters", type=int, default=8)
    parser.add_argument("--train-steps", type=int, default=600)
    parser.add_argument("--finetune-steps", type=int, default=150)
    parser.add_argument("--ratio", type=float, default=0.5)
    parser.add_argument("--arch", default="mobilenet_unet", choices=("mobilenet_unet", "attention_unet", "aspp"))
    parser.add_argument("--save", help="also save the trained original here (a .keras file), for `edgeseg compress`")
    args = parser.parse_args()

    import foreign_zoo
    from edgeseg.backend import set_seed
    from edgeseg.config import DataConfig, PreprocessSpec
    from edgeseg.data.dataset import calibration_images, load_splits
    from edgeseg.prune.batchnorm import image_batches, reestimate_batchnorm
    from edgeseg.prune.channels import prune_channels, prunable_share
    from edgeseg.prune.gradual import prune_channels_and_finetune
    from edgeseg.quantize.tflite_int8 import convert_integer
    from edgeseg.scoring.predictors import keras_predictor
    from edgeseg.scoring.verify import verify
    from edgeseg.training.finetune import FinetuneBudget, finetune

    set_seed(0)
    foreign_zoo.F = args.filters
    spec = PreprocessSpec(args.size, args.size)
    train, val = load_splits(DataConfig(synthetic_train=256, synthetic_val=32), spec)
    model = build(foreign_zoo, args.size) if args.arch == "mobilenet_unet" else \
        getattr(foreign_zoo, {"attention_unet": "attention_unet", "aspp": "aspp_model"}[args.arch])(args.size)
    start = time.perf_counter()
    finetune(model, train, val, FinetuneBudget(max_steps=args.train_steps, min_steps=args.train_steps,
                                               learning_rate=3e-3, eval_every=100), 1, 16, verbose=0)
    reestimate_batchnorm(model, image_batches(train, 16, 16), 16)
    original = keras_predictor(model, 16)
    if args.save:
        from edgeseg.models.io import save_model

        save_model(model, spec, Path(args.save), force=True)
    results = {"original": dice_both_rules(original, val, 16), "prunable_macs": round(prunable_share(model), 4),
               "train_seconds": round(time.perf_counter() - start, 1)}
    for ratio in (0.1, args.ratio):  # without fine-tuning: what removal alone does to stale statistics
        pruning = prune_channels(model, ratio)
        pruned = pruning.model
        kept = sum(k for k, _ in pruning.kept.values()) / sum(t for _, t in pruning.kept.values())
        row = {"filters_removed": round(1 - kept, 4), "stale": dice_both_rules(keras_predictor(pruned, 16), val, 16)}
        reestimate_batchnorm(pruned, image_batches(train, 16))
        row["re-estimated"] = dice_both_rules(keras_predictor(pruned, 16), val, 16)
        results[f"removed {ratio:.0%}, no fine-tuning"] = row
    calibration = calibration_images(train, 32, 16)
    budget = FinetuneBudget(max_steps=args.finetune_steps, min_steps=args.finetune_steps, eval_every=50)
    for bn in (False, True):
        set_seed(1)
        result = prune_channels_and_finetune(model, train, val, args.ratio, budget, 16, 1, verbose=0,
                                             criterion="l1", batchnorm=bn)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "int8.tflite"
            path.write_bytes(convert_integer(result.model, calibration))
            verified = verify(path, val, keras_predictor(result.model, 16), 16, original)
            int8 = dice_both_rules(verified.session.run, val, 16)
        int8["original_mask_agreement"] = round(verified.scores.get("original_mask_agreement", float("nan")), 4)
        float_row = dice_both_rules(keras_predictor(result.model, 16), val, 16)
        results[f"pruned {args.ratio:.0%} + {args.finetune_steps} steps, BN re-estimation {'on' if bn else 'off'}"] = {
            "float": float_row, "int8": int8,
            "int8_vs_original_float": round(int8["dice_gt"] / results["original"]["dice_gt"], 4)}
    print(json.dumps(results, indent=2))


def build(zoo, size: int):
    """The zoo's nested MobileNetV2-style U-Net at `size` x `size`."""
    from edgeseg.backend import keras

    L = keras().layers
    inp = L.Input((size, size, 1))
    skip, deep = zoo.mobilenet_encoder(size)(inp)
    x = zoo.upsample(zoo.F, "up_half")(deep)
    x = L.Concatenate()([x, skip])
    x = zoo.upsample(zoo.F, "up_full")(x)
    out = L.Conv2D(1, 1, activation="sigmoid")(x)
    return keras().Model(inp, out, name="mobilenet_unet")


if __name__ == "__main__":
    main()
