"""Benchmark (issue 23): the whole `edgeseg compress MODEL --data DIR --prune auto` run at default
settings from a cold cache (a fresh OUT, so a fresh OUT.study and latency table), its wall and
CPU time and the machine's load average while it ran; then the winner's int8 files against plain
int8, TFLite on litert-cpu and ONNX on ort-cpu (and the float-ends TFLite files), all timed together in one
interleaved run.

Usage: PYTHONPATH=. .venv/bin/python benchmarks/prune_auto_wall.py --model .edgeseg/dsb/seed128.keras
       --data .edgeseg/dsb/data --out .edgeseg/run2 [--threads 2] [--json F]
(the model and tiles of `benchmarks/small_data.py --dataset dsb --train-only`)."""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = ("model_int8.tflite", "model_int8_float_io.tflite", "model_channels_int8.tflite",
         "model_channels_int8_float_io.tflite", "model_int8.onnx", "model_channels_int8.onnx",
         "model_int8_float_ends.tflite", "model_channels_int8_float_ends.tflite")  # the last two: where made


def run_cold(model: Path, data: Path, out: Path) -> dict:
    for old in (out, out.with_name(out.name + ".study")):
        shutil.rmtree(old, ignore_errors=True)
    loads, done = [], threading.Event()

    def sample():
        while not done.wait(10):
            loads.append(os.getloadavg()[0])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    cmd = [sys.executable, "-m", "edgeseg", "compress", str(model), "--data", str(data), "--prune", "auto",
           "--out", str(out)]
    with open(out.with_suffix(".log"), "w") as log:
        code = subprocess.call(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                               env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT)))
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    done.set()
    if code not in (0, 3):
        raise SystemExit(f"compress exited {code}: see {out.with_suffix('.log')}")
    report = json.loads((out / "report.json").read_text())
    study = report["study"]
    return {"command": " ".join(cmd[1:]), "wall_s": round(wall, 1),
            "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1),
            "load_1min": {"min": min(loads, default=None), "max": max(loads, default=None),
                          "mean": round(sum(loads) / len(loads), 2) if loads else None},
            "study_s": study["seconds"], "winner": [study.get("winner_kind"), study.get("winner")],
            "float_dice": report["baseline"]["dice"],
            "dice": {a["path"]: a["dice"] for a in report["artifacts"] if a["path"] in FILES},
            "candidates": [(c.get("kind", "uniform"), c["ratio"], round(c["dice"], 4), c["latency_ms"])
                           for c in sorted(study["candidates"], key=lambda c: c["trial"])],
            "stopped": study["pruned"],
            "recommended": {f: (r["path"], r.get("p50_ms")) for f, r in report["recommended"].items()}}


def time_together(out: Path, data: Path, threads: int) -> dict:
    """p50 ms of the six files, TFLite on litert-cpu and ONNX on ort-cpu, in one interleaved run."""
    import numpy as np
    from PIL import Image

    from edgeseg.runtimes import REGISTRY
    from edgeseg.search.timing import measure_interleaved

    first = sorted((data / "val" / "images").iterdir())[0]
    image = (np.asarray(Image.open(first).convert("L"), dtype="float32") / 255.0)[None, ..., None]
    paths = [out / name for name in FILES if (out / name).is_file()]
    runtime = {".tflite": REGISTRY["litert-cpu"], ".onnx": REGISTRY["ort-cpu"]}
    p50 = measure_interleaved(paths, lambda p: runtime[p.suffix].load(p, threads), image, min_runs=200,
                              min_seconds=5.0)
    return {p.name: round(ms, 3) for p, ms in zip(paths, p50)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/prune_auto_wall_dsb128_cpu.json")
    p.add_argument("--time-only", action="store_true", help="time the files of an existing OUT, no compress run")
    args = p.parse_args()
    result = {} if args.time_only else run_cold(args.model, args.data, args.out)
    result["p50_ms"] = {t: time_together(args.out, args.data, t) for t in (args.threads, 1)}
    result["load_after"] = os.getloadavg()
    print(json.dumps(result, indent=1))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
