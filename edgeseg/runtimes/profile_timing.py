"""Timing for the runtimes' profilers (bench --profile)."""
from __future__ import annotations

import statistics
import time


def time_runs(run, warmup: int, runs: int) -> tuple[float, float]:
    """Median ms of `runs` calls after `warmup` untimed ones: (wall, CPU time of this thread).
    At one thread the calling thread does all the work, so its CPU time is the op's cost even
    while other processes take the cores; at more threads only the wall time counts."""
    for _ in range(warmup):
        run()
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
        run()
        cpu.append(time.thread_time_ns() - start_cpu)
        wall.append(time.perf_counter_ns() - start)
    return statistics.median(wall) / 1e6, statistics.median(cpu) / 1e6


def whole_times(times: tuple[float, float], threads: int | None) -> dict:
    wall, cpu = times
    return {"whole_ms": wall, "whole_cpu_ms": cpu if threads == 1 else None}
