"""--prune auto: the fastest channel-pruned int8 model within the Dice budget.

The channel ratio is bisected: a candidate is channel-pruned, fine-tuned (edgeseg.training.finetune),
quantized to int8 and scored in LiteRT; a deployable one moves the next try up, a miss moves
it down. Trials and seconds bound the search. At the end every candidate's int8 artifact and
plain int8 PTQ are timed on the target runtime in interleaved rounds (one run, so the shared
CPU's load falls on all of them alike), and the fastest deployable candidate wins.

The search logic (`next_ratio`, `choose`, `run_search`) takes its measurements as callables,
so tests script them; `measure_interleaved` is the only timing code."""
from __future__ import annotations

import gc
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

RATIO_STEP = 1 / 16  # ratios are tried on this grid: finer steps change the model by less than noise
LOW, HIGH, FIRST = 0.25, 0.875, 0.5


@dataclass
class Candidate:
    ratio: float
    dice: float  # of the int8 artifact, in the reference runtime
    deployable: bool
    float_dice: float | None = None  # the fine-tuned channel-pruned float model
    gflops: float | None = None
    parameters: int | None = None
    finetune_steps: int | None = None
    p50_ms: float | None = None
    path: str | None = None  # the int8 artifact, relative to the output directory
    seconds: float = 0.0
    model: object = None  # the fine-tuned tf_keras model; not reported

    def to_dict(self) -> dict:
        row = {k: v for k, v in asdict(self).items() if k != "model"}
        return row | {"seconds": round(self.seconds, 1)}


def grid(ratio: float) -> float:
    return round(round(ratio / RATIO_STEP) * RATIO_STEP, 4)


def next_ratio(tried: list[Candidate], low: float = LOW, high: float = HIGH) -> float | None:
    """Bisection between the highest deployable ratio and the lowest miss; None when the
    interval holds no untried grid point."""
    if not tried:
        return grid(FIRST)
    passed = [c.ratio for c in tried if c.deployable]
    missed = [c.ratio for c in tried if not c.deployable]
    below = max(passed, default=low - RATIO_STEP)
    above = min(missed, default=high + RATIO_STEP)
    candidate = grid((below + above) / 2)
    done = {c.ratio for c in tried}
    if candidate in done or not below < candidate < above or not low <= candidate <= high:
        return None
    return candidate


def choose(candidates: list[Candidate]) -> Candidate | None:
    """The fastest deployable candidate (p50), ties broken by the higher Dice."""
    ok = [c for c in candidates if c.deployable and c.p50_ms is not None]
    return min(ok, key=lambda c: (c.p50_ms, -c.dice), default=None)


def run_search(make: Callable[[float], Candidate], trials: int, seconds: float,
               log: Callable[[str], None] = print, clock: Callable[[], float] = time.perf_counter) -> list[Candidate]:
    """Makes candidates at bisected ratios until the trials, the time or the interval run out."""
    tried: list[Candidate] = []
    start = clock()
    while len(tried) < trials:
        ratio = next_ratio(tried)
        if ratio is None:
            log("      search: the interval is exhausted")
            break
        if tried and clock() - start > seconds:
            log(f"      search: time budget of {seconds:.0f} s spent")
            break
        tried.append(make(ratio))
        c = tried[-1]
        log(f"      candidate {ratio:.4f}: int8 Dice {c.dice:.4f} ({'deployable' if c.deployable else 'misses'}), "
            f"{c.gflops} GFLOPs, {c.finetune_steps} fine-tuning steps, {c.seconds:.0f} s")
    return tried


def measure_interleaved(paths: list[Path], load: Callable[[Path], object], image: np.ndarray, min_runs: int = 50,
                        min_seconds: float = 3.0, round_seconds: float = 0.05, warmup: int = 5) -> list[float]:
    """p50 in ms of each model, timed in interleaved rounds. In each round a model runs for
    about `round_seconds` in a row, as `edgeseg bench` does: alternating single runs between
    interpreters lets one's idle worker threads spin on the cores the next one needs."""
    sessions = [load(p) for p in paths]
    reps = []
    for session in sessions:
        times = []
        for _ in range(warmup):
            start = time.perf_counter_ns()
            session.run(image)
            times.append(time.perf_counter_ns() - start)
        reps.append(max(1, round(round_seconds * 1e9 / max(1, sorted(times)[warmup // 2]))))
    samples: list[list[int]] = [[] for _ in sessions]
    gc.disable()  # a collection inside a timed run would land on whichever model was unlucky
    try:
        while any(len(s) < min_runs or sum(s) < min_seconds * 1e9 for s in samples):
            for session, count, own in zip(sessions, reps, samples):
                for _ in range(count):
                    start = time.perf_counter_ns()
                    session.run(image)
                    own.append(time.perf_counter_ns() - start)
    finally:
        gc.enable()
    return [float(np.median(s)) / 1e6 for s in samples]


def search_info(candidates: list[Candidate], winner: Candidate | None, int8_p50: float | None, target: str,
                threads: int, seconds: float) -> dict:
    """The report.json record: every candidate, the winner and plain int8's p50 in the same run."""
    return {"target": target, "threads": threads, "seconds": round(seconds, 1), "int8_p50_ms": int8_p50,
            "winner": None if winner is None else winner.ratio,
            "speedup_vs_int8": None if winner is None or not int8_p50 else round(int8_p50 / winner.p50_ms, 3),
            "candidates": [c.to_dict() for c in candidates]}


__all__ = ["Candidate", "choose", "grid", "measure_interleaved", "next_ratio", "run_search", "search_info"]
