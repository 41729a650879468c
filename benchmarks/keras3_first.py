"""Benchmark (issue 24 item 2): `edgeseg compress MODEL.keras --prune none` on a Keras 3 file, before
(every Keras 3 file rebuilt as a tf_keras model at load) and after (the Keras 3 model kept; no
rebuild on paths that need no tensorflow-model-optimization).

Model: the seed's U-Net written with tensorflow.keras under TF 2.21 (Keras 3; tests/keras3_seed_unet.py),
128x128 grayscale, trained with Keras 3's fit on the 35 hand-annotated DSB2018 tiles
(benchmarks/small_data.py --dataset dsb's split), saved as a Keras 3 file, trained once and cached.
The two source trees run in turns (before, after, before, after, ...) in fresh processes, so that
the shared machine's load falls on both alike; each run's wall time and report.json step timings
are printed, the artifacts' outputs compared between trees, and load_model alone timed with and
without the rebuild (alternated in one process).

Usage: PYTHONPATH=. .venv/bin/python benchmarks/keras3_first.py --before /path/to/old/tree
       [--after .] [--out /tmp/keras3_first] [--rounds 2] [--epochs 15] [--load-repeats 5]
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

HERE = Path(__file__).resolve().parent
TRAIN = """
import sys
import numpy as np
from pathlib import Path
from PIL import Image
sys.path.insert(0, {tests!r})
from keras3_seed_unet import seed_unet

def load(split):
    root = Path({data!r}) / split
    names = sorted((root / "images").glob("*.png"))
    x = np.stack([np.asarray(Image.open(p), np.float32) / 255.0 for p in names])[..., None]
    y = np.stack([(np.asarray(Image.open(root / "masks" / p.name)) > 0).astype(np.float32) for p in names])[..., None]
    return x, y

model = seed_unet(128)
model.compile("adam", "binary_crossentropy")
model.fit(*load("train"), epochs={epochs}, batch_size=8, verbose=0)
model.save({out!r})
"""


def train_keras3(out: Path, data: Path, epochs: int) -> Path:
    """A Keras 3 file, trained by Keras 3 in a process without TF_USE_LEGACY_KERAS (as a user would)."""
    path = out / "seed128_keras3.keras"
    if path.is_file():
        return path
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    code = TRAIN.format(tests=str(HERE.parent / "tests"), data=str(data), epochs=epochs, out=str(path))
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=3600)
    return path


def compress_once(tree: Path, model: Path, data: Path, out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "edgeseg", "compress", str(model), "--data", str(data),
                             "--out", str(out), "--force", "--prune", "none"], env=env, capture_output=True,
                            text=True, timeout=1800)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"compress failed in {tree}: {result.stderr[-2000:]}")
    report = json.loads((out / "report.json").read_text())
    return {"wall_s": round(wall, 1), "timings": report["timings"],
            "int8_dice": {a["path"]: a["dice"] for a in report["artifacts"] if "int8" in a["path"]}}


def outputs(folder: Path, names: list[str], x: np.ndarray) -> dict:
    """The artifacts' outputs on `x` (LiteRT for .tflite, onnxruntime for .onnx)."""
    import onnxruntime
    from ai_edge_litert.interpreter import Interpreter

    found = {}
    for name in names:
        if name.endswith(".onnx"):
            session = onnxruntime.InferenceSession(str(folder / name))
            found[name] = session.run(None, {session.get_inputs()[0].name: x})[0]
            continue
        interpreter = Interpreter(model_path=str(folder / name))
        interpreter.allocate_tensors()
        detail = interpreter.get_input_details()[0]
        interpreter.set_tensor(detail["index"], x if detail["dtype"] == np.float32 else
                               np.clip(np.round(x / detail["quantization"][0] + detail["quantization"][1]),
                                       -128, 127).astype(detail["dtype"]))
        interpreter.invoke()
        found[name] = interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).astype(np.float32)
    return found


def load_times(model: Path, repeats: int) -> dict:
    """Seconds of load_model with the tf_keras rebuild (what every load did before) and without
    (keep_keras3), alternated in this process after one warm-up load of each."""
    from edgeseg.models.io import load_model

    times: dict[str, list] = {"rebuilt": [], "kept": []}
    for n in range(repeats + 1):
        for label, keep in (("rebuilt", False), ("kept", True)):
            start = time.perf_counter()
            load_model(model, keep_keras3=keep)
            if n:  # the first round pays TensorFlow's and Keras' one-time set-up
                times[label].append(round(time.perf_counter() - start, 2))
    return {label: {"runs": runs, "median": float(np.median(runs))} for label, runs in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="source tree of the old edgeseg (the rebuild)")
    parser.add_argument("--after", type=Path, default=HERE.parent, help="source tree of the new edgeseg")
    parser.add_argument("--out", type=Path, default=Path("/tmp/keras3_first"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--load-repeats", type=int, default=5, help="alternated loads timed in one process")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from small_data import write_dataset

    args.out.mkdir(parents=True, exist_ok=True)
    data = write_dataset(args.out, "dsb")
    model = train_keras3(args.out, data, args.epochs)
    runs: dict[str, list] = {"before": [], "after": []}
    for n in range(args.rounds):
        for label, tree in (("before", args.before), ("after", args.after)):
            made = compress_once(tree.resolve(), model, data, args.out / label)
            runs[label].append(made)
            print(f"round {n} {label}: {made}", flush=True)
    names = sorted(p.name for p in (args.out / "after").iterdir() if p.suffix in (".tflite", ".onnx"))
    x = np.random.default_rng(0).random((1, 128, 128, 1)).astype(np.float32)
    old, new = outputs(args.out / "before", names, x), outputs(args.out / "after", names, x)
    diffs = {name: float(np.abs(old[name] - new[name]).max()) for name in names}
    loads = load_times(model, args.load_repeats)
    print(json.dumps({"runs": runs, "max_abs_output_diff_before_vs_after": diffs, "load_seconds": loads}, indent=1))


if __name__ == "__main__":
    main()
