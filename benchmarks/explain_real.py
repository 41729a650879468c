"""Issue 25 on real data: find a model trained on hand-annotated masks where plain full-int8 PTQ loses
more than 1% of float Dice, then run compress --explain on it (the mixed-precision rung) and on the
seed U-Net of the same data.

Data: the DSB2018 nuclei crop that stardist ships, hand-annotated, cut by `benchmarks/small_data.py
--dataset dsb` into 35 training and 7 validation 128x128 tiles.

Candidates (CANDIDATES: name -> TrainConfig overrides), each trained once and cached under OUT/: U-Nets
without BatchNorm (ReLU, unbounded), with the training settings that give wide activation ranges: few
channels, a large learning rate, raw 0..255 input (normalize "none").

Usage: PYTHONPATH=.:benchmarks python benchmarks/explain_real.py [--out .edgeseg/explain_real]
       [--candidates small_nobn,...] [--explain NAME] [--seed-model SEED128.keras]"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from small_data import TILE, write_dataset

# name -> (ModelConfig overrides, TrainConfig overrides)
CANDIDATES: dict[str, tuple[dict, dict]] = {
    "small_nobn": (dict(preset="small", batchnorm=False), {}),
    "small_nobn_lr1e-2": (dict(preset="small", batchnorm=False), dict(learning_rate=1e-2)),
    "small_nobn_raw": (dict(preset="small", batchnorm=False), dict(normalize="none")),
    "small_nobn_raw_lr1e-2": (dict(preset="small", batchnorm=False), dict(normalize="none", learning_rate=1e-2)),
    "small_nobn_raw_lr3e-3": (dict(preset="small", batchnorm=False), dict(normalize="none", learning_rate=3e-3)),
    "small_nobn_raw_lr5e-3": (dict(preset="small", batchnorm=False), dict(normalize="none", learning_rate=5e-3)),
    "tiny_nobn_raw": (dict(preset="tiny", batchnorm=False, depth=3), dict(normalize="none")),
    "deeplab_small_nobn_raw": (dict(arch="deeplab_lite", preset="small", batchnorm=False), dict(normalize="none")),
}
# The fallback, built rather than trained: the DSB seed U-Net with explain_hurt.py's function-preserving
# rescaling (enc1_conv1's strongest output channel x256, enc1_conv2's input weights for it /256).
RESCALED = "enc1_conv1"


def train_candidate(out: Path, data_dir: Path, name: str) -> Path:
    from edgeseg.config import DataConfig, ModelConfig, TrainConfig
    from edgeseg.training import train

    path = out / f"{name}.keras"
    if path.is_file():
        return path
    model, settings = CANDIDATES[name]
    config = TrainConfig(model=ModelConfig(height=TILE, width=TILE, **model), data=DataConfig(source=str(data_dir)),
                         **{"epochs": 80, "batch_size": 8, "learning_rate": 1e-3, "patience": 20, "verbose": 0,
                            **settings})
    start = time.perf_counter()
    result = train(config, path)
    print(f"trained {name} in {time.perf_counter() - start:.0f} s: {result.epochs_run} epochs, "
          f"val Dice {result.val_scores['dice']:.4f}", flush=True)
    return path


def rescaled_seed(seed: Path, out: Path, scale: float) -> Path:
    from edgeseg.models.io import load_model, save_model, stored_training_data
    from explain_hurt import rescaled

    path = out / f"seed128_rescaled{scale:g}.keras"
    if not path.is_file():
        model, spec = load_model(seed)
        model, channel = rescaled(model, RESCALED, scale)
        save_model(model, spec, path, force=True, trained_on=stored_training_data(seed))
        print(f"{path}: {RESCALED} channel {channel} x{scale:g} (function-preserving)", flush=True)
    return path


def plain_int8(model_path: Path, data_dir: Path, target: Path) -> Path:
    """The full-int8 PTQ artifact compress tried first (same 64-image calibration, int8 I/O, spec stored),
    written beside the mixed one so that `edgeseg bench` times both interleaved."""
    from edgeseg.artifacts.tflite import finalize
    from edgeseg.config import DataConfig
    from edgeseg.data.dataset import calibration_images, load_splits
    from edgeseg.models.io import load_model
    from edgeseg.quantize.tflite_int8 import calibrate, quantize_calibrated

    model, spec = load_model(model_path)
    train, _ = load_splits(DataConfig(source=str(data_dir)), spec)
    target.write_bytes(finalize(quantize_calibrated(calibrate(model, calibration_images(train, 64, 8)), True),
                                spec.to_dict()))
    return target


def compressed(model: Path, data_dir: Path, out: Path, explain: bool) -> dict:
    """compress --formats tflite --prune none [--explain]: each rung's Dice, the winner and its explain facts."""
    from edgeseg.compress.pipeline import compress
    from edgeseg.config import CompressConfig, DataConfig

    start = time.perf_counter()
    config = CompressConfig(data=DataConfig(source=str(data_dir)), formats="tflite", prune="none", normalize=None,
                            explain=explain)
    report = compress(model, config, out, force=True).to_dict()
    seconds = time.perf_counter() - start
    rows = {a["path"]: a for a in report["artifacts"]}
    int8 = rows["model_int8.tflite"]
    ex = int8.get("explain") or {}
    return {"float_dice": report["baseline"]["dice"], "seconds": round(seconds, 1),
            "float_bytes": rows["model_float32.tflite"]["bytes"],
            "int8": {"method": int8.get("method"), "dice": int8["dice"], "bytes": int8["bytes"],
                     "deployable": int8["deployable"],
                     "attempts": [(t["method"], t["dice"], t["seconds"]) for t in int8.get("attempts", [])]},
            "explain_seconds": ex.get("seconds"),
            "repair": {k: v for k, v in (ex.get("repair") or {}).items() if k != "steps"},
            "worst_layers": sorted(((layer["name"], layer.get("dice_cost"), layer.get("rmse_steps"))
                                    for layer in ex.get("layers", [])), key=lambda t: -(t[1] or 0))[:4]}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", default=".edgeseg/explain_real")
    p.add_argument("--candidates", default="", help=f"comma list of {', '.join(CANDIDATES)}: train and screen")
    p.add_argument("--rescaled", type=Path, default=None, help="SEED.keras: write OUT/seed128_rescaledSCALE.keras")
    p.add_argument("--scale", type=float, default=256.0, help="--rescaled: the channel's factor")
    p.add_argument("--plain-int8", default="", help="comma list of model names: write OUT/NAME_ptq_int8.tflite")
    p.add_argument("--explain", default="", help="comma list of model names (or .keras paths): compress --explain")
    a = p.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    data_dir = write_dataset(out, "dsb")
    if a.rescaled:
        rescaled_seed(a.rescaled, out, a.scale)
    for name in filter(None, a.candidates.split(",")):
        path = train_candidate(out, data_dir, name)
        row = {"model": name, **compressed(path, data_dir, out / f"{name}_screen", explain=False)}
        print(json.dumps(row), flush=True)
        with (out / "screen.jsonl").open("a") as f:
            f.write(json.dumps(row) + "\n")
    for name in filter(None, a.plain_int8.split(",")):
        print(plain_int8(out / f"{name}.keras", data_dir, out / f"{name}_ptq_int8.tflite"), flush=True)
    for name in filter(None, a.explain.split(",")):
        path = Path(name) if name.endswith(".keras") else out / f"{name}.keras"
        row = {"model": str(path), **compressed(path, data_dir, out / f"{path.stem}_explain", explain=True)}
        print(json.dumps(row), flush=True)
        with (out / "explain.jsonl").open("a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
