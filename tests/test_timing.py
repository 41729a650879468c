"""search.timing.measure_interleaved's stopping rule, on sessions that sleep (no model)."""
import time
from pathlib import Path

import numpy as np

from edgeseg.search.timing import measure_interleaved


class Sleeper:
    def __init__(self, seconds: float, runs: list):
        self.seconds, self.runs = seconds, runs

    def run(self, image):
        self.runs.append(1)
        time.sleep(self.seconds)


def _measure(**kwargs) -> tuple[list[float], list[int]]:
    runs = {"slow": [], "fast": []}
    seconds = {"slow": 0.01, "fast": 0.001}
    p50s = measure_interleaved([Path("slow"), Path("fast")], lambda p: Sleeper(seconds[p.name], runs[p.name]),
                               np.zeros(1), min_runs=60, min_seconds=0.0, round_seconds=0.005, warmup=1, **kwargs)
    return p50s, [len(runs["slow"]) - 1, len(runs["fast"]) - 1]  # less the warm-up run


def test_every_model_runs_min_runs_without_a_cap():
    p50s, counts = _measure()
    assert min(counts) >= 60 and p50s[0] > p50s[1]


def test_a_slow_model_stops_at_the_cap_with_its_floor_of_runs_and_the_fast_one_goes_on():
    p50s, counts = _measure(max_seconds=0.1, floor_runs=12)
    assert 12 <= counts[0] < 60  # capped: 0.1 s of 10 ms runs, never under the floor
    assert counts[1] >= 60  # the fast one still reaches min_runs
    assert p50s[0] > 5 * p50s[1]
