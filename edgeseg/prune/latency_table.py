"""The latency table per-layer pruning chooses on, measured on the target runtime.

For each prunable channel space, the whole int8 model is built with only that space cut to a
candidate count and timed on the target runtime, interleaved with the unpruned model in the same
run: a cell is what that space's channels cost *in context* (its producers, its consumers, the
concatenations and requantizations around them), not what a FLOP count assumes. The spread of
the unpruned model's copies within a run is the table's noise: a step that saves less than it is
not a step (per_layer.staircase).

Measured coarse first (measure_table): each space at its smallest count, all in one run; only the
spaces whose smallest count steps are refined. On a CPU whose int8 kernels are flat in channels
most spaces stop after one cell (the first table here built 64 models, 15 s of calibration each,
and timed them in 17 runs: 1,154 s; most rows were inside the noise).

Where channels cannot buy speed, fewer pixels may: pass 1 also times the whole model at each
input-resolution scale it can take (prune/resolution.at_scale; `scales`), in the same run, so
the study proposes a scale only where this table shows it beats the noise (`LatencyTable.scales`).

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
SCALE_CELL = "@resolution"  # a pass's cell that is the whole model at an input scale, not a channel space
TABLE_VERSION = 2  # 2: input-resolution scales timed too (a table cached before has none)


@dataclass
class LatencyTable:
    runtime: str
    machine: str
    threads: int
    base_ms: float  # the unpruned int8 model's p50, median over the rows' runs
    noise_ms: float  # spread of the unpruned model's p50 across the rows' runs
    rows: dict[str, dict[int, float]] = field(default_factory=dict)  # space -> kept count -> p50 ms
    scales: dict[float, float] = field(default_factory=dict)  # input-resolution scale -> p50 ms

    def to_dict(self) -> dict:
        return {"runtime": self.runtime, "machine": self.machine, "threads": self.threads,
                "base_ms": self.base_ms, "noise_ms": self.noise_ms,
                "rows": {space: {str(c): ms for c, ms in row.items()} for space, row in self.rows.items()},
                "scales": {str(s): ms for s, ms in self.scales.items()}}

    @classmethod
    def from_dict(cls, raw: dict) -> "LatencyTable":
        rows = {space: {int(c): float(ms) for c, ms in row.items()} for space, row in raw["rows"].items()}
        scales = {float(s): float(ms) for s, ms in raw.get("scales", {}).items()}
        return cls(str(raw["runtime"]), str(raw["machine"]), int(raw["threads"]), float(raw["base_ms"]),
                   float(raw["noise_ms"]), rows, scales)

    def faster_scales(self) -> dict[float, float]:
        """The scales whose whole model saves more than the noise: scale -> p50 ms, fastest first."""
        kept = {s: ms for s, ms in self.scales.items() if self.base_ms - ms > self.noise_ms}
        return dict(sorted(kept.items(), key=lambda item: item[1]))


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
                  multiple: int = 8, log: Callable[[str], None] = lambda _: None, scales: tuple[float, ...] = (),
                  build_scaled: Callable[[float], Path] | None = None) -> LatencyTable:
    """The table on the staircase the kernels have, in at most two interleaved passes.

    Pass 1 (coarse): every space cut alone to its smallest candidate count, all of them timed in
    one interleaved run beside COPIES copies of the unpruned model. A space whose smallest count
    saves no more than the noise has no step at any count between (latency does not rise as
    channels fall), so its row is that one cell. Pass 2 (refine): only the spaces whose coarse cut
    steps get their other counts, again in one run. `build_int8(counts)` writes the int8 artifact
    of the model pruned to `counts` ({} = unpruned) and returns its path; `time_paths` returns p50
    ms in one interleaved run. A shared machine's load drifts between passes, so each cell is kept
    relative to its own pass's unpruned p50 (scaled to the median of those), and the noise is
    twice the relative spread of the unpruned copies within a pass (the larger pass's).
    `scales` (with `build_scaled(scale)`, the int8 artifact of the model at that input scale) are
    timed in pass 1 too, as cells of their own."""
    full = build_int8({})
    ladders = {space: counts for space, channels in spaces.items()
               if (counts := [c for c in candidate_counts(channels, multiple) if c < channels])}
    coarse = [(space, ladder[-1]) for space, ladder in ladders.items()]
    scale_cells = [(SCALE_CELL, s) for s in scales] if build_scaled is not None else []

    def build_cell(cell):
        space, value = cell
        return build_scaled(value) if space == SCALE_CELL else build_int8({space: value})

    shares, bases, spreads = {}, [], []
    for n, cells in enumerate((coarse + scale_cells, None), 1):
        if cells is None:  # pass 2: the other counts of the spaces whose coarse cut stepped
            noise = 2 * max(spreads)
            cells = [(space, c) for space, c0 in coarse if 1.0 - shares[space, c0] > noise
                     for c in ladders[space][:-1]]
            if not cells:
                break
        base, spread, found = _timed_pass(full, cells, build_cell, time_paths)
        shares.update(found)
        bases.append(base)
        spreads.append(spread)
        log(f"      latency table pass {n}: {len(cells)} cell(s) beside the unpruned model ({base:.3f} ms, "
            f"spread {spread:.1%}): " + ", ".join(f"{s} {c}: {found[s, c]:.3f}x" for s, c in cells))
    if not ladders and not scale_cells:
        bases, spreads = [float(time_paths([full])[0])], [0.0]
    base = float(np.median(bases))
    rows = {space: {channels: base, **{c: shares[space, c] * base for c in ladders[space] if (space, c) in shares}}
            for space, channels in spaces.items() if space in ladders}
    timed_scales = {s: shares[SCALE_CELL, s] * base for _, s in scale_cells}
    return LatencyTable(runtime, machine, threads, base, 2 * max(spreads) * base, rows, timed_scales)


COPIES = 3  # unpruned copies per pass (first, middle, last): their spread is the pass's noise


def _timed_pass(full: Path, cells: list[tuple[str, float]], build_cell, time_paths):
    """(the unpruned p50, the copies' relative spread, {cell: p50 / unpruned p50}) of one
    interleaved run of `cells` with COPIES unpruned copies spread through it."""
    paths = [build_cell(cell) for cell in cells]
    cuts = np.linspace(0, len(paths), COPIES).round().astype(int)
    order, at = [], []
    for i, chunk in enumerate(np.split(np.arange(len(paths)), cuts[1:-1])):
        at.append(len(order))
        order.append(full)
        order.extend(paths[j] for j in chunk)
    at.append(len(order))
    order.append(full)
    p50s = time_paths(order)
    copies = [p50s[i] for i in at]
    own = float(np.median(copies))
    timed = [p for i, p in enumerate(p50s) if i not in at]
    return own, (max(copies) - min(copies)) / own, {cell: ms / own for cell, ms in zip(cells, timed)}


def cache_key(model_sha256: str, runtime: str, machine: str, threads: int) -> str:
    return f"{model_sha256}|{runtime}|{machine}|{threads}|v{TABLE_VERSION}"


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


__all__ = ["SCALE_CELL", "LatencyTable", "cache_key", "cached_table", "candidate_counts", "measure_table", "store_table"]
