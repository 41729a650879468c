"""The latency table per-layer pruning chooses on, measured on the target runtime.

For each prunable channel space, the whole int8 model is built with only that space cut to each
candidate count and timed on the target runtime, interleaved with the unpruned model in the same
run: a row is what that space's channels cost *in context* (its producers, its consumers, the
concatenations and requantizations around them), not what a FLOP count assumes. The spread of
the unpruned model's two timings within each run is the table's noise: a step that saves less than
it is not a step (per_layer.staircase).

Tables are cached per model, runtime, machine and threads (a JSON file), so a second search on
the same machine, or a measure worker on the device, fills or reuses them."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

FRACTIONS = (0.75, 0.5, 0.25, 0.125)  # kept shares tried per space, rounded to the SIMD multiple


@dataclass
class LatencyTable:
    runtime: str
    machine: str
    threads: int
    base_ms: float  # the unpruned int8 model's p50, median over the rows' runs
    noise_ms: float  # spread of the unpruned model's p50 across the rows' runs
    rows: dict[str, dict[int, float]] = field(default_factory=dict)  # space -> kept count -> p50 ms

    def to_dict(self) -> dict:
        return {"runtime": self.runtime, "machine": self.machine, "threads": self.threads,
                "base_ms": self.base_ms, "noise_ms": self.noise_ms,
                "rows": {space: {str(c): ms for c, ms in row.items()} for space, row in self.rows.items()}}

    @classmethod
    def from_dict(cls, raw: dict) -> "LatencyTable":
        rows = {space: {int(c): float(ms) for c, ms in row.items()} for space, row in raw["rows"].items()}
        return cls(str(raw["runtime"]), str(raw["machine"]), int(raw["threads"]), float(raw["base_ms"]),
                   float(raw["noise_ms"]), rows)


def candidate_counts(channels: int, multiple: int = 8, fractions=FRACTIONS) -> list[int]:
    """The counts a space is timed at: its full count and each kept share, rounded to a multiple
    of the SIMD width (never below one multiple), without repeats."""
    counts = {channels}
    for share in fractions:
        count = max(min(multiple, channels), int(round(channels * share / multiple)) * multiple)
        counts.add(min(channels, count))
    return sorted(counts, reverse=True)


def measure_table(spaces: dict[str, int], build_int8: Callable[[dict[str, int]], Path],
                  time_paths: Callable[[list[Path]], list[float]], runtime: str, machine: str, threads: int,
                  multiple: int = 8, log: Callable[[str], None] = lambda _: None) -> LatencyTable:
    """Times, per space, the model with only that space cut to each candidate count, between two
    timings of the unpruned model in one interleaved run. `build_int8(counts)` writes the int8
    artifact of the model pruned to `counts` ({} = unpruned) and returns its path; `time_paths`
    returns p50 ms. A shared machine's load drifts between runs, so each row is kept relative to
    its own run's unpruned p50 (scaled to the median of those), and the noise is how far the two
    unpruned timings of one run disagree (twice their median relative gap)."""
    full = build_int8({})
    rows, base_runs, gaps = {}, [], []
    for n, (space, channels) in enumerate(spaces.items(), 1):
        counts = [c for c in candidate_counts(channels, multiple) if c < channels]
        if not counts:
            continue
        paths = [build_int8({space: c}) for c in counts]
        first, *p50s, last = time_paths([full] + paths + [full])
        own = (first + last) / 2
        base_runs.append(own)
        gaps.append(abs(first - last) / own)
        rows[space] = {channels: 1.0, **{c: ms / own for c, ms in zip(counts, p50s)}}
        log(f"      latency table {n}/{len(spaces)}: {space} ({channels} channels) unpruned {own:.3f} ms; "
            + ", ".join(f"{c}: {share:.3f}x" for c, share in rows[space].items() if c != channels))
    base = float(np.median(base_runs)) if base_runs else float(time_paths([full])[0])
    rows = {space: {c: share * base for c, share in row.items()} for space, row in rows.items()}
    noise = 2 * float(np.median(gaps)) * base if gaps else 0.0
    return LatencyTable(runtime, machine, threads, base, noise, rows)


def cache_key(model_sha256: str, runtime: str, machine: str, threads: int) -> str:
    return f"{model_sha256}|{runtime}|{machine}|{threads}"


def cached_table(cache: Path, key: str) -> LatencyTable | None:
    """The table stored under `key`, or None (no file, no entry, or an unreadable file)."""
    try:
        stored = json.loads(cache.read_text())
        return LatencyTable.from_dict(stored[key]) if isinstance(stored, dict) and key in stored else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store_table(cache: Path, key: str, table: LatencyTable) -> None:
    """Adds the table under `key`, written atomically (another worker may be reading the file)."""
    try:
        stored = json.loads(cache.read_text())
        stored = stored if isinstance(stored, dict) else {}
    except (OSError, ValueError):
        stored = {}
    stored[key] = table.to_dict()
    cache.parent.mkdir(parents=True, exist_ok=True)
    temporary = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(stored, indent=1))
    os.replace(temporary, cache)


__all__ = ["LatencyTable", "cache_key", "cached_table", "candidate_counts", "measure_table", "store_table"]
