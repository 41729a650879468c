"""The verdict follows measured speed (issue 23): FLOPs and an assumed precision order do not
predict int8 latency on every CPU (a channel-pruned int8 model with 0.36x the FLOPs ran 1.08x
faster; an int8 ONNX ran slower than the float one). So the deployable artifacts of each format
are timed on the runtime that will run them, interleaved in one run on this machine, and the
verdict recommends the fastest; the measured p50 is in each record and in the verdict."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable

import numpy as np

from ..artifacts.compress_report import ArtifactRecord

MIN_RUNS, MIN_SECONDS = 20, 0.2  # per artifact; interleaved rounds keep the ratios honest on a busy machine


def time_deployable(records: list[ArtifactRecord], folder: Path, image: np.ndarray,
                    log: Callable[[str], None] = print, threads: int | None = None,
                    measure: Callable | None = None) -> list[ArtifactRecord]:
    """The records, each deployable one with `p50_ms` and `timed_on` from one interleaved run per
    format on its reference runtime; others unchanged. A runtime that cannot run here leaves its
    format untimed (the verdict then ranks by precision and size, as before), and says why."""
    from ..runtimes import reference_runtime
    from ..search.timing import measure_interleaved

    measure = measure or measure_interleaved
    threads = threads or os.cpu_count() or 1
    timed: dict[str, tuple[float, str]] = {}
    for fmt in dict.fromkeys(r.format for r in records):
        shipped = [r for r in records if r.format == fmt and r.deployable]
        if len(shipped) < 2:
            continue  # nothing to choose between
        runtime = reference_runtime(folder / shipped[0].path)
        ok, reason = runtime.is_available()
        if not ok:
            log(f"      {fmt}: not timed ({runtime.name} unavailable: {reason})")
            continue
        p50s = measure([folder / r.path for r in shipped], lambda p: runtime.load(p, threads), image,
                       min_runs=MIN_RUNS, min_seconds=MIN_SECONDS)
        where = f"{runtime.name}, {threads} threads"
        timed.update({r.path: (p50, where) for r, p50 in zip(shipped, p50s)})
        log(f"      {fmt} on {where}, interleaved: "
            + ", ".join(f"{r.path} {p50:.2f} ms" for r, p50 in zip(shipped, p50s)))
    return [dataclasses.replace(r, p50_ms=round(timed[r.path][0], 4), timed_on=timed[r.path][1])
            if r.path in timed else r for r in records]


__all__ = ["time_deployable"]
