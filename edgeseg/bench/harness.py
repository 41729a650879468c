"""The harness: every (artifact, runtime) row is loaded, scored for Dice on the same data,
warmed up, then timed at batch 1 in interleaved rounds (A B C A B C ...) so that machine
drift hits every row alike. Rows whose runtime is absent carry the reason, never a number.
Instance models (bench/instance.py) are scored by PQ/F1 instead, and each timed network run is
followed by one timed decode of that artifact's own outputs."""
from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..config import BenchConfig
from ..data.dataset import SegmentationData
from ..errors import describe
from ..instances.decode import decode
from ..runtimes import Runtime, RuntimeUnavailable
from . import memory
from .artifacts import Artifact
from ..scoring.semantic import SEMANTIC
from ..scoring.task import Task, task_for
from .instance import DecodeTimer, Decoder
from .timing import LatencyStats

Clock = Callable[[], int]
MB = 1024 * 1024


@dataclass
class Row:
    artifact: Artifact
    runtime: Runtime
    status: str = "ok"  # "ok" | "unavailable" | "error"
    reason: str = ""
    threads: int | None = None
    load_ms: float | None = None
    peak_rss_mb: float | None = None
    model_rss_mb: float | None = None
    scores: dict = field(default_factory=dict)
    stats: LatencyStats | None = None
    samples_ns: list[int] = field(default_factory=list, repr=False)
    session: object = field(default=None, repr=False)
    decoder: DecodeTimer | None = field(default=None, repr=False)  # instance models only
    decode_stats: LatencyStats | None = None
    task: Task = SEMANTIC  # scores the row and names its columns

    def to_dict(self, cv_warn: float) -> dict:
        a = self.artifact
        row = {"artifact": a.name, "format": a.format, "precision": a.precision, "runtime": self.runtime.name,
               "device": self.runtime.device, "threads": self.threads, "status": self.status, "reason": self.reason,
               "bytes": a.bytes, "gzip_bytes": a.gzip_bytes, "sha256": a.sha256, "load_ms": self.load_ms,
               "peak_rss_mb": self.peak_rss_mb, "model_rss_mb": self.model_rss_mb}
        stats = self.stats.to_dict() if self.stats else dict.fromkeys(
            ("runs", "mean_ms", "std_ms", "min_ms", "p50_ms", "p90_ms", "p99_ms", "cv", "fps"))
        row |= stats
        row["noisy"] = self.stats.cv > cv_warn if self.stats else None
        row |= {"dice": self.scores.get("dice"), "iou": self.scores.get("iou"), "images": self.scores.get("images")}
        if "dice_per_class" in self.scores:
            row["dice_per_class"] = self.scores["dice_per_class"]
        return self.task.row_fields(row, self.scores, self.decode_stats)


def plan(artifacts: list[Artifact], runtimes: list[Runtime]) -> list[Row]:
    """One row per artifact and every listed runtime that can run its format."""
    return [Row(a, r) for a in artifacts for r in runtimes if a.format in r.formats]


def _load(row: Row, threads: int, warmup: int, image: np.ndarray, clock: Clock) -> None:
    own_peak = memory.reset_peak()
    before = memory.current_rss_bytes()
    start = clock()
    try:
        row.session = row.runtime.load(row.artifact.path, threads)
    except RuntimeUnavailable as exc:
        row.status, row.reason = "unavailable", str(exc)
        return
    except Exception as exc:  # a foreign artifact can fail inside any runtime; the row says how
        row.status, row.reason = "error", f"could not load: {describe(exc)}"
        return
    row.load_ms = (clock() - start) / 1e6
    row.threads = getattr(row.session, "threads", None)  # what the runtime reports using; None if unknown
    try:
        for _ in range(warmup):
            row.session.run(image)
    except Exception as exc:  # the row says how it failed; the others still run
        row.status, row.reason, row.session = "error", f"could not run: {describe(exc)}", None
        return
    peak = memory.peak_rss_bytes()
    row.peak_rss_mb = round(peak / MB, 1) if own_peak else None
    row.model_rss_mb = round((peak - before) / MB, 1) if own_peak and before is not None else None


def _estimate_ns(row: Row, image: np.ndarray, clock: Clock, runs: int = 5) -> int:
    """Median of a few untimed runs. One run is not enough: a single slow run (a GPU stall,
    a page fault) would leave a fast row at one run per round, needing thousands of rounds."""
    samples = []
    for _ in range(runs):
        start = clock()
        row.session.run(image)
        samples.append(clock() - start)
    return max(1, sorted(samples)[runs // 2])


def time_interleaved(rows: list[Row], image: np.ndarray, config: BenchConfig, clock: Clock,
                     log: Callable[[str], None] = lambda _: None) -> None:
    """Rounds of A B C ...: each row runs for about config.round_time per round, one timed
    invocation at a time. Every row stays in the rounds until all rows have config.min_runs
    runs and config.min_time seconds, so all of them sample the same stretch of time: a row
    timed alone at the end would absorb whatever the machine did then."""
    active = [r for r in rows if r.status == "ok"]
    reps = {id(r): max(1, round(config.round_time * 1e9 / _estimate_ns(r, image, clock))) for r in active}
    min_ns = config.min_time * 1e9
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection inside a timed run would land on whichever row was unlucky
    rounds = 0
    try:
        while active:
            rounds += 1
            for row in active:
                run = row.session.run
                timer = row.decoder
                for _ in range(reps[id(row)]):
                    start = clock()
                    run(image)
                    row.samples_ns.append(clock() - start)
                    if timer is not None:  # decode right after its network, in the same round
                        start = clock()
                        timer.decode_next()
                        timer.samples_ns.append(clock() - start)
            waiting = [r for r in active if len(r.samples_ns) < config.min_runs or sum(r.samples_ns) < min_ns]
            if not waiting:
                break
            if rounds % 50 == 0:
                log(f"      round {rounds}: {len(waiting)} row(s) short of --min-runs/--min-time")
    finally:
        if gc_was_enabled:
            gc.enable()
    for row in rows:
        if row.samples_ns:
            row.stats = LatencyStats.from_ns(row.samples_ns)
        if row.decoder is not None and row.decoder.samples_ns:
            row.decode_stats = LatencyStats.from_ns(row.decoder.samples_ns)


def run_rows(rows: list[Row], data: SegmentationData, config: BenchConfig, clock: Clock = time.perf_counter_ns,
             log: Callable[[str], None] = print, decoder: Decoder = decode) -> dict[str, tuple[bool, str]]:
    """Fills every row in place; returns each asked runtime's (available, version or reason).
    `decoder` decodes instance outputs (the device-side decode; tests pass a scripted one)."""
    threads = config.effective_threads
    availability: dict[str, tuple[bool, str]] = {}
    image = data.batch([0])[0].astype(np.float32)
    for row in rows:
        name = row.runtime.name
        if name not in availability:
            availability[name] = row.runtime.is_available()
        ok, reason = availability[name]
        if not ok:
            row.status, row.reason = "unavailable", reason
            continue
        log(f"  loading {row.artifact.name} on {name}")
        _load(row, threads, config.warmup, image, clock)
        if row.status != "ok":
            log(f"    {row.status}: {row.reason}")
            continue
        _score(row, data, config.batch_size, decoder, log)
    live = [r for r in rows if r.status == "ok"]
    if live:
        log(f"  timing {len(live)} row(s) at batch 1 in interleaved rounds "
            f"(>= {config.min_runs} runs and >= {config.min_time:g} s each)")
        time_interleaved(rows, image, config, clock, log)
    for row in rows:
        row.session = row.decoder = None  # release the interpreters and the kept outputs
    return availability


def _score(row: Row, data: SegmentationData, batch_size: int, decoder: Decoder, log: Callable[[str], None]) -> None:
    """Dice for semantic models; PQ/F1 (and a decode timer over the same outputs) for instance ones."""
    row.task = task_for(data.spec)
    scored = row.task.score_row(row.session.run, data, batch_size, row.artifact.spec)
    row.scores = scored.scores
    if scored.decoding is not None:  # the task decodes on the device: time that beside the network
        row.decoder = DecodeTimer.of(*scored.decoding, decoder)
    log(f"    {row.task.row_line(row.scores)}; load {row.load_ms:.0f} ms")
