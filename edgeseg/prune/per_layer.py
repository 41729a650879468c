"""Latency-aware per-layer channel counts (NetAdapt, Yang et al. 2018; HALP, Shen et al. 2022).

A uniform channel ratio chosen by FLOPs leaves speed on the table where the kernels do not pay
per channel: on an AVX-512/AMX CPU the int8 cost of a convolution is nearly flat in its channels up
to 64, so halving a narrow layer saves nothing while halving a wide one saves a lot. Here every
prunable channel space gets its own kept count, chosen on a *measured* latency table
(latency_table.py): at each step the space whose next measured step down saves the most
milliseconds per unit of importance removed (Taylor scores, normalized per space) gives up that
step, until the estimate reaches the target. Steps that the table shows buy nothing (inside the
noise) are never taken, so channels are only removed where the target's kernels reward it.

Pure: the table and the importance are values, so tests script both."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Step:
    space: str  # the space's name: its first producer layer
    before: int  # kept channels before this step
    after: int
    saved_ms: float  # estimated latency saved by the step, from the table
    importance: float  # normalized importance of the channels the step removes

    def to_dict(self) -> dict:
        return {"space": self.space, "before": self.before, "after": self.after,
                "saved_ms": round(self.saved_ms, 4), "importance": round(self.importance, 6)}


@dataclass
class Choice:
    counts: dict[str, int]  # space -> kept channels
    estimated_ms: float
    base_ms: float
    steps: list[Step] = field(default_factory=list)
    reached: bool = False  # the estimate reached the target

    def to_dict(self) -> dict:
        return {"counts": dict(self.counts), "estimated_ms": round(self.estimated_ms, 4),
                "base_ms": round(self.base_ms, 4), "reached": self.reached,
                "steps": [s.to_dict() for s in self.steps]}


def removal_cost(scores: np.ndarray, before: int, after: int) -> float:
    """Importance lost when a space keeps `after` of its channels instead of `before`: the sum of
    the scores ranked `after`..`before` (weakest are removed first), over the space's total."""
    ranked = np.sort(np.asarray(scores, dtype="float64"))[::-1]
    total = float(ranked.sum())
    if total <= 0:
        return 0.0
    return float(ranked[after:before].sum()) / total


def choose_counts(table: dict[str, dict[int, float]], importance: dict[str, np.ndarray], base_ms: float,
                  target_ms: float, noise_ms: float = 0.0) -> Choice:
    """Per-space kept counts whose estimated latency (base + each space's measured change) reaches
    `target_ms`, removing the least importance per millisecond saved.

    `table[space][count]` is the measured latency of the model with only that space cut to
    `count` (its full count included, measured in the same run), so a space's saving is
    table[space][full] - table[space][count]. A step counts only if it saves more than
    `noise_ms`. Savings of different spaces are assumed to add up: the winner is re-timed whole."""
    counts = {space: max(row) for space, row in table.items()}
    steps = {space: staircase(row, noise_ms) for space, row in table.items()}
    choice = Choice(dict(counts), base_ms, base_ms)
    while True:
        estimate = base_ms - sum(row[max(row)] - row[counts[space]] for space, row in table.items())
        choice.estimated_ms = estimate
        if estimate <= target_ms:
            choice.reached = True
            return choice
        best, best_value = None, -1.0
        for space, row in table.items():
            lower = next((c for c in steps[space] if c < counts[space]), None)  # the next step down
            if lower is None:
                continue
            gain = row[counts[space]] - row[lower]
            cost = removal_cost(importance[space], counts[space], lower)
            value = gain / max(cost, 1e-9)
            if value > best_value:
                best, best_value = Step(space, counts[space], lower, gain, cost), value
        if best is None:
            return choice
        counts[best.space] = best.after
        choice.counts = dict(counts)
        choice.steps.append(best)


def staircase(row: dict[int, float], noise_ms: float) -> list[int]:
    """The counts at which a space's measured latency actually steps down (beyond the noise),
    from the full count down: the steps its kernels have."""
    steps, last = [], None
    for count in sorted(row, reverse=True):
        if last is None or row[last] - row[count] > noise_ms:
            steps.append(count)
            last = count
    return steps


__all__ = ["Choice", "Step", "choose_counts", "removal_cost", "staircase"]
