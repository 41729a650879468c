"""Benchmark (issue 24 item 2): `edgeseg compress MODEL.keras --prune channels --channel-ratio 0.5` on a Keras 3
file with two source trees: before (channel pruning works on the model's tf_keras rebuild) and after (it prunes,
ranks, fine-tunes and distills the Keras 3 model itself).

Each tree runs compress once in a fresh process (PYTHONPATH=TREE) with `models.keras3.rebuild` wrapped to count
its calls and record the edgeseg functions that asked for each (as_tf_keras_inputs: the maker; tflite_source:
TFLite's trace of a nearest UpSampling2D, models/keras3.WORSE_IN_TFLITE). Printed per tree: wall time, the
report's step timings, the channel-pruned float model's Dice and its int8 TFLite artifact's, and the rebuilds.

Usage: PYTHONPATH=. .venv/bin/python benchmarks/keras3_channels.py --model SEED_KERAS3.keras --data DIR
       --before /path/to/old/tree [--after .] [--out /tmp/keras3_channels] [--order before,after]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Runs inside the compress process: counts the rebuilds and names who asked, then runs the CLI.
COUNTED = """
import json, sys, traceback
import edgeseg.models.keras3 as keras3
from edgeseg.cli.main import main

calls, real = [], keras3.rebuild

def counted(*args, **kwargs):
    if kwargs.get("check", True):  # a nested model's own rebuild is part of its parent's
        frames = [f.name for f in traceback.extract_stack()[:-1] if "/edgeseg/" in f.filename]
        calls.append(" < ".join(reversed(frames[-7:])))  # the innermost edgeseg callers first
    return real(*args, **kwargs)

keras3.rebuild = counted
print("EDGESEG_FROM " + keras3.__file__, flush=True)
code = main(sys.argv[1:])
print("REBUILDS " + json.dumps(calls))
sys.exit(code)
"""


def run(tree: Path, model: Path, data: Path, out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), TF_CPP_MIN_LOG_LEVEL="3")
    args = ["compress", str(model), "--data", str(data), "--out", str(out), "--force", "--prune", "channels",
            "--channel-ratio", "0.5"]
    start = time.perf_counter()
    # run from the tree itself: `python -c` puts the working folder ahead of PYTHONPATH
    result = subprocess.run([sys.executable, "-c", COUNTED, *args], env=env, capture_output=True, text=True,
                            timeout=3600, cwd=tree)
    code_from = next((line[13:] for line in result.stdout.splitlines() if line.startswith("EDGESEG_FROM ")), None)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"compress failed in {tree}: {result.stderr[-3000:]}")
    rebuilds = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("REBUILDS "))[9:])
    report = json.loads((out / "report.json").read_text())
    rows = {a["path"]: a for a in report["artifacts"]}
    int8 = rows.get("model_channels_int8.tflite", {})
    return {"tree": str(tree), "edgeseg_from": code_from, "wall_s": round(wall, 1), "timings": report.get("timings"),
            "channels_float_dice": (report.get("channels") or {}).get("dice"),
            "channels_int8_tflite_dice": int8.get("dice"), "channels_int8_deployable": int8.get("deployable"),
            "base_float_dice": (report.get("baseline") or {}).get("dice"),
            "channels_flops_ratio": (report.get("channels") or {}).get("flops_ratio"),
            "finetune": {k: ((report.get("channels") or {}).get("finetune") or {}).get(k)
                         for k in ("steps", "best_step", "best_dice", "seconds")},
            "rebuilds": rebuilds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a Keras 3 .keras file")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--before", type=Path, required=True, help="source tree of the old edgeseg")
    parser.add_argument("--after", type=Path, default=HERE.parent, help="source tree of the new edgeseg")
    parser.add_argument("--out", type=Path, default=Path("/tmp/keras3_channels"))
    parser.add_argument("--order", default="before,after")
    args = parser.parse_args()
    trees = {"before": args.before, "after": args.after}
    found = {}
    for label in args.order.split(","):
        found[label] = run(trees[label].resolve(), args.model.resolve(), args.data.resolve(),
                           (args.out / label).resolve())
        print(f"{label}: {json.dumps(found[label])}", flush=True)
    print(json.dumps(found, indent=1))


if __name__ == "__main__":
    main()
