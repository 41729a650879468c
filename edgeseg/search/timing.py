"""The search's one timer: models timed in interleaved rounds on the target runtime (one run, so
the shared CPU's load falls on all of them alike)."""
from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Callable

import numpy as np


def measure_interleaved(paths: list[Path], load: Callable[[Path], object], image: np.ndarray, min_runs: int = 50,
                        min_seconds: float = 3.0, round_seconds: float = 0.05, warmup: int = 5,
                        max_seconds: float | None = None, floor_runs: int = 20) -> list[float]:
    """p50 in ms of each model, timed in interleaved rounds. In each round a model runs for
    about `round_seconds` in a row, as `edgeseg bench` does: alternating single runs between
    interpreters lets one's idle worker threads spin on the cores the next one needs.
    `max_seconds`: a model that has run that long in all (and at least `floor_runs` times) has
    enough, even short of `min_runs`; the others go on (a float32 file 10x slower than the int8
    ones would otherwise set the whole measurement's length)."""
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

    def enough(own: list[int]) -> bool:
        if max_seconds is not None and len(own) >= floor_runs and sum(own) >= max_seconds * 1e9:
            return True
        return len(own) >= min_runs and sum(own) >= min_seconds * 1e9

    gc.disable()  # a collection inside a timed run would land on whichever model was unlucky
    try:
        while not all(enough(s) for s in samples):
            for session, count, own in zip(sessions, reps, samples):
                if enough(own):
                    continue
                for _ in range(count):
                    start = time.perf_counter_ns()
                    session.run(image)
                    own.append(time.perf_counter_ns() - start)
    finally:
        gc.enable()
    return [float(np.median(s)) / 1e6 for s in samples]


__all__ = ["measure_interleaved"]
