"""The verdict follows measured speed (issue 23, item 4). FLOPs and an assumed precision order do
not predict latency on every CPU (a channel-pruned int8 model with 0.36x the FLOPs ran 1.08x
faster; an int8 ONNX ran slower than the float one), so the deployable artifacts of each format
are timed on the runtime that will run them, together in one interleaved run on this machine,
and the verdict (verdict.py) recommends the fastest; the p50 goes into each record and the verdict.

The timing is a `Timer` value handed to compress: the real one measures; tests hand a scripted
one, so that which artifact is recommended never follows the timing noise of a test machine."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from ..artifacts.compress_report import ArtifactRecord

# Per artifact, interleaved in rounds of 0.02 s of one model in a row. Runs, not seconds: a 32x32
# test model runs 100 times in 15 ms, a 128x128 int8 U-Net in about 1 s (30 runs were too few on a
# loaded 2-core machine: two copies of one int8 model came out 8 and 14 ms apart).
MIN_RUNS, MIN_SECONDS, ROUND_SECONDS = 100, 0.0, 0.02
# An artifact that has run this long (20 runs at least) has enough: a 128x128 float32 file at ~100 ms a
# run would otherwise take 10 s of the 100 runs meant for the int8 files it is compared with.
MAX_SECONDS = 2.0


@dataclass(frozen=True)
class Timing:
    p50_ms: list[float]  # one per path, in order
    timed_on: str  # runtime and threads, as the verdict prints them


class Timer(Protocol):
    def __call__(self, fmt: str, paths: list[Path]) -> Timing | str:
        """The artifacts' p50s, timed together, or one line saying why they could not be timed."""


@dataclass
class InterleavedTimer:
    """The real timer: the format's runtime (`target` when it runs the format, e.g. --target
    litert-cpu for TFLite, else the runtime that verified it), `threads` threads,
    search.timing.measure_interleaved on `image`."""

    image: np.ndarray
    target: str | None = None
    threads: int = 0

    def __call__(self, fmt: str, paths: list[Path]) -> Timing | str:
        from ..runtimes import REGISTRY, reference_runtime
        from ..search.timing import measure_interleaved

        runtime = REGISTRY.get(self.target or "")
        if runtime is None or fmt not in runtime.formats:
            runtime = reference_runtime(paths[0])
        ok, reason = runtime.is_available()
        if not ok:
            return f"{runtime.name} unavailable: {reason}"
        threads = self.threads or os.cpu_count() or 1
        p50s = measure_interleaved(paths, lambda p: runtime.load(p, threads), self.image, min_runs=MIN_RUNS,
                                   min_seconds=MIN_SECONDS, round_seconds=ROUND_SECONDS, max_seconds=MAX_SECONDS)
        return Timing(p50s, f"{runtime.name}, {threads} threads")


def scripted_timer(p50_ms: dict[str, float], timed_on: str = "scripted") -> Timer:
    """A timer that answers from a table (file name -> p50 ms): for tests and dry runs."""

    def timer(fmt: str, paths: list[Path]) -> Timing:
        return Timing([p50_ms[p.name] for p in paths], timed_on)

    return timer


def time_deployable(records: list[ArtifactRecord], folder: Path, timer: Timer,
                    log: Callable[[str], None] = print) -> list[ArtifactRecord]:
    """The records, each deployable one of a format with a choice (two or more) carrying `p50_ms`
    and `timed_on` from one timing of that format's deployable artifacts; others unchanged. A
    format that cannot be timed here stays untimed (the verdict then ranks it by precision and
    size) and the reason is said."""
    timed: dict[str, tuple[float, str]] = {}
    for fmt in dict.fromkeys(r.format for r in records):
        shipped = [r for r in records if r.format == fmt and r.deployable]
        if len(shipped) < 2:
            continue  # nothing to choose between
        timing = timer(fmt, [folder / r.path for r in shipped])
        if isinstance(timing, str):
            log(f"      {fmt}: not timed ({timing}); the verdict ranks it by precision and size")
            continue
        timed.update({r.path: (p50, timing.timed_on) for r, p50 in zip(shipped, timing.p50_ms)})
        log(f"      {fmt} on {timing.timed_on}, interleaved: "
            + ", ".join(f"{r.path} {p50:.3f} ms" for r, p50 in zip(shipped, timing.p50_ms)))
    return [dataclasses.replace(r, p50_ms=round(timed[r.path][0], 4), timed_on=timed[r.path][1])
            if r.path in timed else r for r in records]


__all__ = ["InterleavedTimer", "Timer", "Timing", "scripted_timer", "time_deployable"]
