"""Benchmark (issue 23, item 3): recovery from channel pruning on hand-drawn masks, each method
against plain fine-tuning at EQUAL total optimizer steps.

Data and model: the hand-annotated DSB2018 set and the seed U-Net of `benchmarks/small_data.py
--dataset dsb --train-only` (35 train / 7 val 128x128 tiles, cached under OUT). Every variant
prunes the same float model at --ratio (Taylor ranking, the default) and fine-tunes with no
early stop; the row keeps the best validation Dice seen (as compress does) and the last one.
Reported: Dice / the original float model's Dice.

  plain      today's recovery: the task loss only
  distill    + KL to the float model's probabilities (weight 0.5; --distill 0.5)
  features   + the float model's block outputs through 1x1 adapters (prune/distill_features.py),
             feature weight 1.0 (features_light: 0.1)
  rounds2    2 remove-then-recover rounds (0.5 then 0.75 of the filters), steps split equally
  rounds2_features  both; rounds3: 3 rounds
  plain_half, plain_double  plain at half and twice the steps: what a step budget scaled by the
             share removed would buy (Dice vs steps)
  scaled     plain with --finetune-scale 2 (prune/progressive.py): 1.5x the steps at 0.75, 1.75x at 0.875;
             scaled_distill: and --distill 0.5

--int8: after each variant's recovery, its best float model is quantized as compress's `ptq`
artifact is (litert-quantizer, min-max ranges, int8 I/O, 64 calibration images from the training
split, finalize) and scored in LiteRT on the validation tiles (scoring/verify.py, compress's
verification); the row adds int8 Dice, its ratio to the original float Dice and to its own pruned
float Dice.

--replay FILE...: no training; replays the recorded validation curves of FILEs (this script's
result files) through training/finetune.EarlyStop at two targets (0.99x float, and compress's
recovery target, float - 0.005) and reports when its hopeless rule would have stopped each run:
it must never stop a run that reached its target (exit 1 if it does); replay_early_stop.py.

Usage: PYTHONPATH=. .venv/bin/python benchmarks/recovery.py [--out .edgeseg/small_data_dsb]
       [--ratio 0.75] [--steps 300] [--seeds 0,1] [--variants plain,distill,...] [--int8]
       PYTHONPATH=. .venv/bin/python benchmarks/recovery.py --replay benchmarks/results/recovery_dsb128_cpu.json"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

# name -> (prune_channels_and_finetune keyword arguments, steps as a multiple of --steps)
VARIANTS: dict[str, tuple[dict, float]] = {
    "plain": ({}, 1.0),
    "distill": ({"distill_weight": 0.5}, 1.0),
    "features": ({"distill_weight": 0.5, "features": 1.0}, 1.0),
    "features_light": ({"distill_weight": 0.5, "features": 0.1}, 1.0),
    "rounds2": ({"rounds": 2}, 1.0),
    "rounds2_features": ({"rounds": 2, "distill_weight": 0.5, "features": 1.0}, 1.0),
    "rounds3": ({"rounds": 3}, 1.0),
    "plain_half": ({}, 0.5),
    "plain_double": ({}, 2.0),
    "scaled": ({"step_scale": 2.0}, 1.0),  # --finetune-scale 2: ratio / 0.5 times --steps
    "scaled_distill": ({"step_scale": 2.0, "distill_weight": 0.5}, 1.0),
}


CALIBRATION_SAMPLES = 64  # compress's default --calibration-samples


def int8_scores(model, spec, train, val) -> dict:
    """The int8 TFLite file compress's `ptq` rung would build from `model`, scored in LiteRT."""
    import tempfile

    from edgeseg.artifacts.tflite import finalize
    from edgeseg.data.dataset import calibration_images
    from edgeseg.export.tflite import convert_float32
    from edgeseg.quantize.litert_quantizer import quantize_int8
    from edgeseg.scoring.predictors import keras_predictor
    from edgeseg.scoring.task import task_for

    start = time.perf_counter()
    calibration = calibration_images(train, CALIBRATION_SAMPLES, 8)
    data = finalize(quantize_int8(convert_float32(model), calibration, True, "min-max"), spec.to_dict())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "int8.tflite"
        path.write_bytes(data)
        scores = task_for(spec.to_dict()).verifier(val, keras_predictor(model, 8), spec.to_dict(), 8)(path).scores
    return {"int8_dice": float(scores["dice"]), "int8_bytes": len(data), "int8_seconds": time.perf_counter() - start}


def run(model, spec, data_dir: Path, ratio: float, steps: int, seed: int, name: str, float_dice: float,
        int8: bool = False) -> dict:
    from edgeseg.config import DataConfig
    from edgeseg.data.dataset import load_splits
    from edgeseg.prune.gradual import prune_channels_and_finetune
    from edgeseg.scoring.predictors import evaluate_predictor, keras_predictor
    from edgeseg.training.finetune import FinetuneBudget

    train, val = load_splits(DataConfig(source=str(data_dir), seed=seed), spec)
    kwargs, scale = VARIANTS[name]
    kwargs = dict(kwargs)
    if "distill_weight" in kwargs or "features" in kwargs:
        kwargs.setdefault("distill_weight", 0.0)
        kwargs["teacher"] = model
    total = max(1, round(steps * scale))
    start = time.perf_counter()
    result = prune_channels_and_finetune(model, train, val, ratio, FinetuneBudget(total, total), 8, spec.classes,
                                         None, seed, 0, **kwargs)
    last = evaluate_predictor(keras_predictor(result.model, 8), val, 8)["dice"]
    tuned = result.finetune
    row = {"variant": name, "seed": seed, "ratio": ratio, "steps": tuned.steps, "float_dice": round(float_dice, 4),
            "best_dice": round(tuned.best_dice, 4), "best_ratio": round(tuned.best_dice / float_dice, 4),
            "kept_dice": round(last, 4), "curve": [[s, round(d, 4)] for s, d in tuned.dice_curve],
            "parameters": result.model.count_params(), "seconds": round(time.perf_counter() - start, 1)}
    if int8:
        q = int8_scores(result.model, spec, train, val)
        row.update({"int8_dice": round(q["int8_dice"], 4), "int8_ratio": round(q["int8_dice"] / float_dice, 4),
                    "int8_vs_pruned_float": round(q["int8_dice"] / last, 4), "int8_bytes": q["int8_bytes"],
                    "int8_seconds": round(q["int8_seconds"], 1)})
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=".edgeseg/small_data_dsb")
    parser.add_argument("--ratio", type=float, default=0.75)
    parser.add_argument("--steps", type=int, default=300, help="total optimizer steps of every equal-steps variant")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma list of {', '.join(VARIANTS)}")
    parser.add_argument("--int8", action="store_true", help="also quantize each recovered model (compress's ptq) "
                        "and score it in LiteRT")
    parser.add_argument("--json", help="where the rows go (default: a recovery_*.json file in --out)")
    parser.add_argument("--replay", nargs="+", metavar="FILE", help="replay recorded curves through EarlyStop")
    args = parser.parse_args()
    if args.replay:
        from replay_early_stop import main as replay

        raise SystemExit(replay(args.replay, VARIANTS))

    from edgeseg.config import DataConfig
    from edgeseg.data.dataset import load_splits
    from edgeseg.models.io import load_model
    from edgeseg.scoring.predictors import evaluate_predictor, keras_predictor

    out = Path(args.out)
    model, spec = load_model(out / "seed128.keras")
    data_dir = out / "data"
    _, val = load_splits(DataConfig(source=str(data_dir)), spec)
    float_dice = evaluate_predictor(keras_predictor(model, 8), val, 8)["dice"]
    print(f"float Dice {float_dice:.4f}", flush=True)
    rows = []
    suffix = "_int8" if args.int8 else ""
    default = out / f"recovery_{args.ratio}_{args.steps}_{args.seeds.replace(',', '+')}{suffix}.json"
    target = Path(args.json) if args.json else default
    for seed in (int(s) for s in args.seeds.split(",")):
        for name in args.variants.split(","):
            rows.append(run(model, spec, data_dir, args.ratio, args.steps, seed, name, float_dice, args.int8))
            print(json.dumps(rows[-1]), flush=True)
            partial = target.with_suffix(".tmp")
            partial.write_text(json.dumps(rows, indent=2) + "\n")
            partial.replace(target)
    for r in rows:
        print(f"{r['variant']:<18} seed {r['seed']}: best {r['best_dice']:.4f} ({r['best_ratio']:.4f}x of "
              f"{r['float_dice']:.4f}), last {r['kept_dice']:.4f}, {r['steps']} steps, {r['seconds']:.0f} s"
              + (f"; int8 {r['int8_dice']:.4f} ({r['int8_ratio']:.4f}x float, {r['int8_vs_pruned_float']:.4f}x "
                 "its pruned float)" if "int8_dice" in r else ""))


if __name__ == "__main__":
    main()
