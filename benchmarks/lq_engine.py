"""Issue 25 item 4: litert-quantizer 0.11 (static int8) against the TFLite converter's PTQ (what the
`ptq` method ships), as the TFLite int8 engine, on the hand-annotated DSB2018 tiles.

Models: the DSB seed U-Net (128x128, `benchmarks/small_data.py --dataset dsb`), and the same model with
one enc1_conv1 channel x4096 (function-preserving; `benchmarks/explain_real.py`'s rescaled seed, where
the converter's full int8 loses 17% of float Dice).

Files, each from the same float model and the same calibration images (the first 64 training images,
as compress takes them: all 35 here), per-channel int8 weights, per-tensor int8 activations, int8
input and output, through edgeseg's `finalize` (spec metadata, as every written .tflite):
- converter: TFLiteConverter's PTQ (quantize/tflite_int8.py), what `ptq` shipped before;
- litert-quantizer: edgeseg.quantize.litert_quantizer.quantize_int8 with global min/max ranges (the
  engine `ptq` now uses);
- litert-quantizer-moving-average: the same with litert-quantizer's default range rule (a moving
  average of each image's min/max, 0.95 smoothing);
- litert-quantizer-as-written: its default run, untouched (weights over 256 KiB after the flatbuffer,
  no finalize), to check that edgeseg's session and guard accept such a file.
`--spread N` instead quantizes on N random 28-of-35 subsets of the calibration images, for how much
Dice moves with the calibration images alone.

Per file: bytes, Dice on the 7 validation tiles with `p > 0.5` (edgeseg's one convention, THRESHOLD_RULE)
and `p >= 0.5`, the ops, whether every op is in the Edge TPU compiler's op set (artifacts/edgetpu.py:
the compiler itself is not installed here) with int8 I/O, and whether edgeseg's verification accepts it
(the LiteRT session loads and runs it: scoring/verify.py, then the Dice budget of compress: 0.01).
Latency: `edgeseg bench A B ... --runtimes litert-cpu --threads 2`, all files of a model in one
interleaved run.

Usage: PYTHONPATH=.:benchmarks python benchmarks/lq_engine.py --seed SEED128.keras [--out .edgeseg/lq_engine]
       [--min-time 10] [--scale 4096] [--spread 5]"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from explain_real import rescaled_seed
from small_data import write_dataset

CALIBRATION = 64


def as_written(float_tflite: bytes, calibration: np.ndarray) -> bytes:
    """litert-quantizer's static int8 exactly as its README runs it (default moving-average ranges,
    weights after the flatbuffer), to check that edgeseg's session and guard accept such a file."""
    from litert_quantizer import quantizer, recipe

    from edgeseg.quantize.litert_quantizer import _signature  # noqa: PLC2701

    key, name = _signature(float_tflite)
    qt = quantizer.Quantizer(bytearray(float_tflite), recipe.static_wi8_ai8())
    result = qt.calibrate({key: [{name: calibration[i:i + 1]} for i in range(len(calibration))]})
    return bytes(qt.quantize(result, enable_progress_report=False).quantized_model)


def builds(model, spec, calibration: np.ndarray) -> dict[str, tuple[bytes, float]]:
    """label -> (the finalized int8 file, seconds to quantize)."""
    from edgeseg.artifacts.tflite import finalize
    from edgeseg.export.tflite import convert_float32
    from edgeseg.quantize.litert_quantizer import quantize_int8
    from edgeseg.quantize.tflite_int8 import calibrate, quantize_calibrated

    float_tflite = convert_float32(model)
    makers = {"converter": lambda: quantize_calibrated(calibrate(model, calibration), True),
              "litert-quantizer": lambda: quantize_int8(float_tflite, calibration, True, "min-max"),
              "litert-quantizer-moving-average": lambda: quantize_int8(float_tflite, calibration, True,
                                                                       "moving-average")}
    files = {}
    for label, make in makers.items():
        start = time.perf_counter()
        data = make()
        files[label] = (finalize(data, spec.to_dict()), time.perf_counter() - start)
    files["litert-quantizer-as-written"] = (as_written(float_tflite, calibration), 0.0)
    return files


def dice_both(path: Path, val) -> dict:
    """Dice over the validation set (pooled, as ScoreAccumulator counts) under `>` and `>=`."""
    from edgeseg.runtimes.litert import LiteRTSession

    session = LiteRTSession(path)
    inter = {">": 0, ">=": 0}
    total = {">": 0, ">=": 0}
    for images, truth in val.batches(8):
        probs = np.asarray(session.run(images), np.float32)[..., 0]
        truth = np.asarray(truth).reshape(probs.shape) > 0
        for rule, mask in ((">", probs > 0.5), (">=", probs >= 0.5)):
            inter[rule] += int((mask & truth).sum())
            total[rule] += int(mask.sum() + truth.sum())
    return {rule: round(2 * inter[rule] / total[rule], 5) for rule in inter}


def edgetpu_facts(path: Path) -> dict:
    from edgeseg.artifacts.edgetpu import check
    from edgeseg.artifacts.tflite import operators

    report = check(path)
    ops, inputs, outputs = operators(path.read_bytes())
    types = sorted({t.type for op in ops for t in op.inputs + op.outputs})
    return {"compiler": shutil.which("edgetpu_compiler") or "absent", "problems": report.problems,
            "cpu_ops": sorted({v.op for v in report.ops if not v.on_tpu}),
            "io": [t.type for t in inputs + outputs], "tensor_types": types,
            "ops": {name: sum(op.name == name for op in ops) for name in sorted({op.name for op in ops})}}


def verification(path: Path, val, reference, float_dice: float) -> dict:
    """What compress's guard does with a candidate: score it in its runtime, judge it by the budget."""
    from edgeseg.scoring.budget import Budget
    from edgeseg.scoring.verify import verify

    try:
        verified = verify(path, val, reference, 8)
    except Exception as exc:  # a refusal is the result here
        return {"accepted": False, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    met, why = Budget(float_dice, 0.01).judge(verified.scores, method="ptq")
    return {"accepted": True, "runtime": verified.runtime, "dice": round(verified.scores["dice"], 5),
            "mask_agreement": round(verified.scores.get("mask_agreement", 0), 5), "met_budget": met,
            "reason": why}


def bench(files: list[Path], data_dir: Path, out: Path, min_time: float) -> dict:
    target = out / "bench.json"
    command = [sys.executable, "-m", "edgeseg", "bench", *map(str, files), "--data", str(data_dir),
               "--runtimes", "litert-cpu", "--threads", "2", "--min-time", str(min_time), "--json", str(target),
               "--force"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    rows = json.loads(target.read_text())["rows"]
    return {"command": " ".join(command[1:]),
            "p50_ms": {Path(r["artifact"]).name: r.get("p50_ms") for r in rows},
            "bench_dice": {Path(r["artifact"]).name: r.get("dice") for r in rows}}


def measure(name: str, model_path: Path, data_dir: Path, out: Path, min_time: float) -> dict:
    from edgeseg.config import DataConfig
    from edgeseg.data.dataset import calibration_images, load_splits
    from edgeseg.models.io import load_model
    from edgeseg.scoring.predictors import evaluate_predictor

    model, spec = load_model(model_path)
    train, val = load_splits(DataConfig(source=str(data_dir)), spec)
    calibration = calibration_images(train, CALIBRATION, 8)
    reference = lambda x: model(x, training=False).numpy()  # noqa: E731
    float_dice = evaluate_predictor(reference, val)["dice"]
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    paths, seconds = {}, {}
    for label, (data, took) in builds(model, spec, calibration).items():
        paths[label], seconds[label] = folder / f"{label}.tflite", took
        paths[label].write_bytes(data)
    rows = {}
    for label, path in paths.items():
        rows[label] = {"bytes": path.stat().st_size, "quantize_seconds": round(seconds.get(label, 0), 1) or None,
                       "dice": dice_both(path, val), "edgetpu": edgetpu_facts(path),
                       "verification": verification(path, val, reference, float_dice)}
        print(name, label, json.dumps(rows[label]), flush=True)
    timing = bench([paths[k] for k in ("converter", "litert-quantizer", "litert-quantizer-moving-average")],
                   data_dir, folder, min_time)
    return {"model": name, "file": str(model_path), "float_dice": round(float_dice, 5), "rows": rows, **timing}


def spread(name: str, model_path: Path, data_dir: Path, draws: int, keep: int = 28) -> dict:
    """How much each engine's Dice moves with the calibration images alone: `draws` random subsets of
    `keep` of the training tiles (seeded), both engines on each; Dice under `p > 0.5`."""
    from edgeseg.config import DataConfig
    from edgeseg.data.dataset import calibration_images, load_splits
    from edgeseg.export.tflite import convert_float32
    from edgeseg.models.io import load_model
    from edgeseg.quantize.litert_quantizer import quantize_int8
    from edgeseg.quantize.tflite_int8 import calibrate, quantize_calibrated
    from edgeseg.runtimes.litert import LiteRTSession
    from edgeseg.scoring.predictors import evaluate_predictor

    model, spec = load_model(model_path)
    train, val = load_splits(DataConfig(source=str(data_dir)), spec)
    images = calibration_images(train, CALIBRATION, 8)
    float_tflite = convert_float32(model)
    probe = Path(os.environ.get("TMPDIR", "/tmp")) / f"lq_spread_{os.getpid()}.tflite"
    dice = {"converter": [], "litert-quantizer": [], "litert-quantizer-moving-average": []}
    for draw in range(draws):
        subset = images[np.sort(np.random.default_rng(draw).choice(len(images), keep, replace=False))]
        for label, data in (("converter", quantize_calibrated(calibrate(model, subset), True)),
                            ("litert-quantizer", quantize_int8(float_tflite, subset, True, "min-max")),
                            ("litert-quantizer-moving-average", quantize_int8(float_tflite, subset, True,
                                                                              "moving-average"))):
            probe.write_bytes(data)
            dice[label].append(round(evaluate_predictor(LiteRTSession(probe).run, val)["dice"], 5))
    probe.unlink(missing_ok=True)
    return {"model": name, "draws": draws, "keep": keep, "of": len(images), "dice": dice,
            "mean": {k: round(float(np.mean(v)), 5) for k, v in dice.items()},
            "std": {k: round(float(np.std(v)), 5) for k, v in dice.items()}}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=Path, required=True, help="the DSB seed U-Net (seed128.keras)")
    p.add_argument("--out", type=Path, default=Path(".edgeseg/lq_engine"))
    p.add_argument("--scale", type=float, default=4096.0)
    p.add_argument("--min-time", type=float, default=10.0)
    p.add_argument("--only", default="seed,hurt", help="comma list of seed, hurt or .keras files")
    p.add_argument("--spread", type=int, default=0, help="instead: DRAWS calibration subsets per model, both engines")
    a = p.parse_args()
    os.environ["TQDM_DISABLE"] = "1"
    a.out.mkdir(parents=True, exist_ok=True)
    data_dir = write_dataset(a.out, "dsb")
    models = {"seed": a.seed, "hurt": rescaled_seed(a.seed, a.out, a.scale)}
    for name in a.only.split(","):
        if name.endswith(".keras"):  # any other model of the same data, named by its file
            path = Path(name)
            name = path.stem
            models[name] = path
        if a.spread:
            result = spread(name, models[name], data_dir, a.spread)
            print(json.dumps(result), flush=True)
            with (a.out / "lq_spread.jsonl").open("a") as f:
                f.write(json.dumps(result) + "\n")
            continue
        result = measure(name, models[name], data_dir, a.out, a.min_time)
        print(json.dumps(result), flush=True)
        with (a.out / "lq_engine.jsonl").open("a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
