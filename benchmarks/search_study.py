"""Benchmark: --prune auto on an Optuna study (issue 17) on the small-data 128x128 model.

(a) the study's winner against plain int8, timed afterwards in one interleaved run (litert-cpu, 2 threads);
(b) wall time of the search with two workers (two `compress --prune auto --study S` processes,
    each with one TensorFlow intra-op thread) against one worker, for the same queued trials;
(c) a study killed (SIGKILL) after half its trials and restarted: finished trials are not
    recomputed, and the final trials equal (b)'s one-worker run with the same seed.
(learn) issue 23: one `--prune auto` run whose study proposes each candidate from the results so
    far (uniform ratios and per-layer counts on the latency table, taking turns); its winner's int8
    against plain int8 on litert-cpu, 2 threads, interleaved in one run, its Dice against float,
    and the run's wall time. `--table FILE` seeds the study's cache with a latency table measured
    before (benchmarks/per_layer.py's), as a second run on the same machine would find it.

Everything runs through the real command line (`python -m edgeseg compress ...`).
Usage: PYTHONPATH=. .venv/bin/python benchmarks/search_study.py [--cache /work/bench/small] [--out DIR]
       [--parts a,b,c] [--time 240] [--trials 4]
Needs the model and tiles benchmarks/small_data.py writes (seed128.keras, data/)."""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def compress(model: Path, data: Path, out: Path, *flags: str, env: dict | None = None,
             wait: bool = True) -> subprocess.Popen | dict:
    """One `edgeseg compress --prune auto` (tflite only: the search is what is measured)."""
    cmd = [sys.executable, "-m", "edgeseg", "compress", str(model), "--data", str(data), "--prune", "auto",
           "--formats", "tflite", "--out", str(out), "--force", *flags]
    log = open(out.with_suffix(".log"), "w")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT), **(env or {})))
    if not wait:
        return proc
    if proc.wait() not in (0, 3):
        raise RuntimeError(f"compress failed: see {out.with_suffix('.log')}")
    return json.loads((out / "report.json").read_text())


def study_at(out: Path, name: str) -> str:
    """Each run its own study and candidate cache: a shared cache would spare the later runs
    their fine-tuning (the same model, data, settings and seed give the same cache keys)."""
    return str(out / f"{name}.study" / "study.sqlite3")


def time_winners(paths: list[Path], data: Path) -> list[float]:
    """p50 ms of each file on litert-cpu, 2 threads, interleaved in one run."""
    from edgeseg.search.timing import measure_interleaved
    from edgeseg.runtimes import REGISTRY
    from PIL import Image
    import numpy as np

    first = sorted((data / "val" / "images").iterdir())[0]
    image = (np.asarray(Image.open(first).convert("L"), dtype="float32") / 255.0)[None, ..., None]
    runtime = REGISTRY["litert-cpu"]
    return measure_interleaved(paths, lambda p: runtime.load(p, 2), image, min_seconds=10.0)


def part_a(model: Path, data: Path, out: Path, seconds: float) -> dict:
    """The study's winner against plain int8, timed in one interleaved run. (Until issue 22 this part
    also ran the bisection, which picked the same winner: see RESULTS.md, issue 17; it is gone.)"""
    study = compress(model, data, out / "a_study", "--search-time", str(seconds), "--search-trials", "11",
                     "--study", study_at(out, "a_study"))
    files, names = [out / "a_study" / "model_int8.tflite"], ["plain int8"]
    if study.get("channels"):
        files.append(out / "a_study" / "model_channels_int8.tflite")
        names.append(f"study winner {study['channels']['ratio']}")
    p50 = time_winners(files, data)
    return {"seconds_budget": seconds, "p50_ms": dict(zip(names, [round(p, 3) for p in p50])),
            "study": {"winner": study["study"]["winner"], "seconds": study["study"]["seconds"],
                      "trials": study["study"]["trials_run_here"], "floor": study["study"]["floor"],
                      "candidates": [(c["ratio"], round(c["dice"], 4)) for c in study["study"]["candidates"]]}}


def part_learn(model: Path, data: Path, out: Path, trials: int, seconds: float, table: Path | None) -> dict:
    import shutil

    for old in (out / "learn", out / "learn.study"):
        shutil.rmtree(old, ignore_errors=True)
    if table is not None:
        (out / "learn.study" / "cache").mkdir(parents=True)
        shutil.copy(table, out / "learn.study" / "cache" / "latency_table.json")
    start = time.perf_counter()
    report = compress(model, data, out / "learn", "--search-trials", str(trials), "--search-time", str(seconds))
    wall = time.perf_counter() - start
    study, base = report["study"], report["baseline"]["dice"]
    rows = {a["path"]: a for a in report["artifacts"]}
    files, names = [out / "learn" / "model_int8.tflite"], ["plain int8"]
    if (out / "learn" / "model_channels_int8.tflite").is_file():
        files.append(out / "learn" / "model_channels_int8.tflite")
        names.append(f"winner {study['winner_kind']} {study['winner']}")
    p50 = time_winners(files, data)
    winner = study.get("winner_row") or {}
    return {"wall_s": round(wall, 1), "study_s": study["seconds"], "float_dice": base,
            "table_seeded": table is not None, "p50_ms": dict(zip(names, [round(p, 3) for p in p50])),
            "speedup_vs_plain_int8": round(p50[0] / p50[-1], 3) if len(p50) > 1 else None,
            "winner_int8_dice": winner.get("dice"),
            "winner_dice_ratio": round(winner["dice"] / base, 4) if winner else None,
            "plain_int8_dice_ratio": round(rows["model_int8.tflite"]["dice"] / base, 4),
            "winner_kept": winner.get("kept"), "study_plain_int8_p50_ms": study.get("int8_p50_ms"),
            "trials": [(c.get("kind", "uniform"), c["ratio"], round(c["dice"], 4), c["latency_ms"], c.get("deployable"),
                        c.get("estimated_ms")) for c in sorted(study["candidates"], key=lambda c: c["trial"])],
            "stopped": study["pruned"], "recommended": {f: (r["path"], r.get("p50_ms"))
                                                        for f, r in report["recommended"].items()}}


def _study_trials(report: dict) -> list:
    return sorted((c["ratio"], round(c["dice"], 4), c["bytes"]) for c in report["study"]["candidates"])


def part_b(model: Path, data: Path, out: Path, trials: int) -> dict:
    flags = ("--search-trials", str(trials), "--search-time", "3600")
    one_thread = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
    start = time.perf_counter()
    single = compress(model, data, out / "b_one", *flags, "--study", study_at(out, "b_one"))
    one_wall = time.perf_counter() - start
    start = time.perf_counter()
    procs = [compress(model, data, out / f"b_two_{n}", *flags, "--study", study_at(out, "b_two"),
                      env=one_thread, wait=False) for n in (0, 1)]
    codes = [p.wait() for p in procs]
    two_wall = time.perf_counter() - start
    reports = [json.loads((out / f"b_two_{n}" / "report.json").read_text()) for n in (0, 1)]
    return {"trials": trials, "exit_codes": codes,
            "one_worker": {"search_s": single["study"]["seconds"], "wall_s": round(one_wall, 1)},
            "two_workers": {"search_s": [r["study"]["seconds"] for r in reports], "wall_s": round(two_wall, 1),
                            "trials_each": [r["study"]["trials_run_here"] for r in reports]},
            "search_ratio": round(single["study"]["seconds"] / max(r["study"]["seconds"] for r in reports), 3),
            "same_trials_as_one_worker": _study_trials(single) == _study_trials(reports[0]),
            "one_worker_trials": _study_trials(single), "two_worker_trials": _study_trials(reports[0])}


def _completed(location: Path) -> int:
    import sqlite3

    if not location.exists():
        return 0
    with sqlite3.connect(location) as db:
        try:
            return db.execute("select count(*) from trials where state = 'COMPLETE'").fetchone()[0]
        except sqlite3.OperationalError:
            return 0


def _failed(location: Path) -> int:
    import sqlite3

    with sqlite3.connect(location) as db:
        return db.execute("select count(*) from trials where state = 'FAIL'").fetchone()[0]


def part_c(model: Path, data: Path, out: Path, trials: int) -> dict:
    flags = ("--search-trials", str(trials), "--search-time", "3600", "--study", study_at(out, "c"))
    proc = compress(model, data, out / "c", *flags, wait=False)
    while _completed(out / "c.study" / "study.sqlite3") < trials // 2:
        if proc.poll() is not None:
            raise RuntimeError("the run to kill finished first")
        time.sleep(2)
    time.sleep(15)  # into the next trial's fine-tuning: the killed trial must be retried, not lost
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _completed(out / "c.study" / "study.sqlite3")
    cache = out / "c.study" / "cache"
    stamps = {p.name: p.stat().st_mtime for p in cache.iterdir() if not p.name.startswith(".")}
    start = time.perf_counter()
    resumed = compress(model, data, out / "c", *flags)
    after = {p.name: p.stat().st_mtime for p in cache.iterdir() if p.name in stamps}
    uninterrupted = json.loads((out / "b_one" / "report.json").read_text())
    failed = _failed(out / "c.study" / "study.sqlite3")
    return {"trials": trials, "completed_before_kill": before, "failed_trials_retried": failed, "resumed_wall_s": round(time.perf_counter() - start, 1),
            "trials_run_by_resumed_run": resumed["study"]["trials_run_here"],
            "cache_entries_untouched": stamps == after,
            "same_trials_as_uninterrupted": _study_trials(resumed) == _study_trials(uninterrupted),
            "resumed_trials": _study_trials(resumed), "uninterrupted_trials": _study_trials(uninterrupted),
            "resumed_front": [r["ratio"] for f in resumed["study"]["fronts"] for r in f["rows"]],
            "uninterrupted_front": [r["ratio"] for f in uninterrupted["study"]["fronts"] for r in f["rows"]]}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--cache", default="/work/bench/small")
    p.add_argument("--out", default=".edgeseg/search_study")
    p.add_argument("--parts", default="a,b,c")
    p.add_argument("--time", type=float, default=240.0)
    p.add_argument("--trials", type=int, default=4)
    p.add_argument("--table", type=Path, help="(learn) a latency_table.json to seed the study's cache with")
    a = p.parse_args()
    model, data, out = Path(a.cache) / "seed128.keras", Path(a.cache) / "data", Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {"load_before": os.getloadavg()}
    for part in a.parts.split(","):
        start = time.perf_counter()
        if part == "a":
            results["a"] = part_a(model, data, out, a.time)
        elif part == "b":
            results["b"] = part_b(model, data, out, a.trials)
        elif part == "c":
            results["c"] = part_c(model, data, out, a.trials)
        elif part == "learn":
            results["learn"] = part_learn(model, data, out, a.trials, a.time, a.table)
        results[f"{part}_load_after"] = os.getloadavg()
        results[f"{part}_wall_s"] = round(time.perf_counter() - start, 1)
        (out / "summary.json").write_text(json.dumps(results, indent=1))
        print(json.dumps({part: results[part]}, indent=1), flush=True)


if __name__ == "__main__":
    main()
