"""Benchmark (issue 24, "numbers to reach"): three architectures nobody on the project wrote,
trained briefly on the 35 hand-annotated DSB2018 tiles (128x128, 7 validation tiles), then
given to `edgeseg compress` as a user would.

- A: MobileNetV2-style U-Net (tests/foreign_zoo.py at 128x128, --filters wide): a nested encoder
  Model, Sequential Conv2DTranspose upsample blocks, BatchNorm momentum 0.999; a tf_keras file.
- B: attention U-Net (foreign_zoo.attention_unet: Multiply gates); a tf_keras file.
- C: KerasHub DeepLabV3ImageSegmenter on a small ResNet backbone (ASPP, dilated branches), trained
  and saved by Keras 3: its SpatialPyramidPooling has no tf_keras twin and no --custom-objects is
  given (needs the `hub` extra).

For each: `compress --prune channels --channel-ratio 0.5` (int8 TFLite Dice over the original
float Dice, collapse counted with both `p > 0.5` and `p >= 0.5`), and `compress --prune auto`
(exit code, with and without a --custom-objects file).

Usage: PYTHONPATH=. .venv/bin/python benchmarks/foreign_models.py [--out .edgeseg/foreign_models]
       [--models A,B,C] [--train-steps 400] [--auto-trials 2]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

SIZE = 128
# Training here (Keras 3 fit, or edgeseg's fine-tuning) runs in this process: TF 2.21's oneDNN kernels die
# natively on 1x1 stride-2 convolutions (ResNet shortcuts, attention gates; benchmarks/onednn_abort.py), so
# they are off for it, set before TensorFlow loads. compress gets the user's environment as it was: it
# turns oneDNN off itself where it trains such a model.
USER_ONEDNN = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def _train_tf_keras(model, data_dir: Path, steps: int):
    from edgeseg.config import PreprocessSpec
    from edgeseg.data.dataset import load_splits
    from edgeseg.prune.batchnorm import image_batches, reestimate_batchnorm
    from edgeseg.training.finetune import FinetuneBudget, finetune
    from small_data import data_config

    train, val = load_splits(data_config(data_dir), PreprocessSpec(SIZE, SIZE))
    finetune(model, train, val, FinetuneBudget(max_steps=steps, min_steps=steps, learning_rate=3e-3,
                                               eval_every=100), 1, 8, verbose=0)
    reestimate_batchnorm(model, image_batches(train, 8, 8), 8)  # converged statistics, as a long training leaves
    return model


def build_a(filters: int):
    import foreign_zoo
    from foreign_bn import build

    foreign_zoo.F = filters
    return build(foreign_zoo, SIZE)


def build_b(filters: int):
    import foreign_zoo

    foreign_zoo.F = filters
    return foreign_zoo.attention_unet(SIZE)


def _arrays(folder: Path):
    from PIL import Image

    names = sorted((folder / "images").glob("*.png"))
    images = np.stack([np.asarray(Image.open(n), np.float32) / 255.0 for n in names])[..., None]
    masks = np.stack([np.asarray(Image.open(folder / "masks" / n.name)) > 0 for n in names])[..., None]
    return np.repeat(images, 3, axis=-1), masks.astype(np.float32)


def make_c(data_dir: Path, path: Path, steps: int) -> Path:
    """Trained with Keras 3's own fit (the way a KerasHub user trains), on the tiles made RGB."""
    from test_foreign_models import keras_hub_deeplab

    from edgeseg.backend import keras as tf_keras_module

    tf_keras_module()
    import keras

    keras_hub_deeplab(path, SIZE)
    model = keras.saving.load_model(path)
    x, y = _arrays(data_dir / "train")
    model.compile(keras.optimizers.Adam(3e-3), "binary_crossentropy")
    model.fit(x, y, batch_size=8, epochs=max(1, steps * 8 // len(x)), verbose=0)
    path.unlink()
    model.save(path)
    return path


def make_tf_keras(name: str, data_dir: Path, path: Path, filters: int, steps: int) -> Path:
    from edgeseg.config import PreprocessSpec
    from edgeseg.models.io import save_model

    model = {"A": build_a, "B": build_b}[name](filters)
    save_model(_train_tf_keras(model, data_dir, steps), PreprocessSpec(SIZE, SIZE), path, force=True)
    return path


def dice_both_rules(probs: np.ndarray, truth: np.ndarray) -> dict:
    def dice(mask):
        total = mask.sum() + truth.sum()
        return float(2 * (mask & truth).sum() / total) if total else 1.0

    return {"dice_gt": round(dice(probs > 0.5), 4), "dice_ge": round(dice(probs >= 0.5), 4),
            "max_prob": round(float(probs.max()), 4)}


def _val(data_dir: Path, channels: int):
    x, y = _arrays(data_dir / "val")
    return x[..., :channels], y[..., 0] > 0


def tflite_probs(path: Path, images: np.ndarray) -> np.ndarray:
    from edgeseg.runtimes import REGISTRY

    session = REGISTRY["litert-cpu"].load(path, 1)
    return np.concatenate([np.asarray(session.run(images[i:i + 1]), np.float32) for i in range(len(images))])[..., 0]


def compress(model: Path, data_dir: Path, out: Path, *extra: str) -> tuple[int, float, str]:
    cmd = [sys.executable, "-m", "edgeseg", "compress", str(model), "--data", str(data_dir), "--out", str(out),
           "--force", "--formats", "tflite", *extra]
    start = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    env.update({"PYTHONPATH": str(ROOT)}, **({} if USER_ONEDNN is None else {"TF_ENABLE_ONEDNN_OPTS": USER_ONEDNN}))
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    out.parent.mkdir(parents=True, exist_ok=True)
    (out.parent / f"{out.name}.log").write_text(result.stdout + result.stderr)  # the whole log, to read afterwards
    tail = (result.stderr.strip().splitlines() or [""])[-1]
    return result.returncode, round(time.perf_counter() - start, 1), tail


def channels_row(model: Path, data_dir: Path, out: Path, channels: int) -> dict:
    code, seconds, tail = compress(model, data_dir, out, "--prune", "channels", "--channel-ratio", "0.5")
    row = {"exit": code, "seconds": seconds}
    if code != 0:
        return {**row, "error": tail}
    report = json.loads((out / "report.json").read_text())
    arts = {a["path"]: a for a in report["artifacts"]}
    int8 = arts.get("model_channels_int8.tflite", {})
    images, truth = _val(data_dir, channels)
    original = dice_both_rules(tflite_probs(out / "model_float32.tflite", images), truth)
    row.update(original_float=original, baseline_dice=report["baseline"]["dice"],
               channels_float_dice=(report.get("channels") or {}).get("dice"),
               int8_deployable=int8.get("deployable"), int8_report_dice=int8.get("dice"))
    if (out / "model_channels_int8.tflite").is_file():
        both = dice_both_rules(tflite_probs(out / "model_channels_int8.tflite", images), truth)
        row.update(int8=both, int8_over_original=round(both["dice_gt"] / original["dice_gt"], 4)
                   if original["dice_gt"] else None)
    return row


def auto_rows(model: Path, data_dir: Path, out: Path, trials: int) -> dict:
    custom = out.parent / "no_layers.py"
    custom.write_text("import keras\n\nclass Unused(keras.layers.Layer):\n    pass\n")
    rows = {}
    for label, extra in (("without --custom-objects", ()), ("with --custom-objects", ("--custom-objects", str(custom)))):
        target = out.parent / f"{out.name}_{'custom' if extra else 'plain'}"
        code, seconds, tail = compress(model, data_dir, target, "--prune", "auto", "--search-trials", str(trials),
                                       "--finetune-steps", "60", *extra)
        rows[label] = {"exit": code, "seconds": seconds, **({} if code == 0 else {"error": tail})}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / ".edgeseg" / "foreign_models")
    parser.add_argument("--models", default="A,B,C")
    parser.add_argument("--filters", type=int, default=8)
    parser.add_argument("--train-steps", type=int, default=400)
    parser.add_argument("--auto-trials", type=int, default=2)
    parser.add_argument("--skip-auto", action="store_true")
    args = parser.parse_args()
    from small_data import write_dataset

    args.out.mkdir(parents=True, exist_ok=True)
    data_dir = write_dataset(args.out, "dsb")
    results = {}
    for name in args.models.split(","):
        path = args.out / f"{name}.keras"
        start = time.perf_counter()
        if not path.is_file():
            if name == "C":
                make_c(data_dir, path, args.train_steps)
            else:
                make_tf_keras(name, data_dir, path, args.filters, args.train_steps)
        row = {"train_seconds": round(time.perf_counter() - start, 1)}
        row["channels 0.5"] = channels_row(path, data_dir, args.out / f"{name}_channels", 3 if name == "C" else 1)
        if not args.skip_auto:
            row["auto"] = auto_rows(path, data_dir, args.out / f"{name}_auto", args.auto_trials)
        results[name] = row
        print(json.dumps({name: row}, indent=1), flush=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
