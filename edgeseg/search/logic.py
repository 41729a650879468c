"""--prune auto's study, the pure part: which candidate to try next given the results so far,
which of them form the Pareto front, which one wins, and the key a fine-tuned candidate is cached under.

No Optuna, no TensorFlow: study.py (the Optuna side) and study_run.py (the TensorFlow side)
feed it plain rows, so these rules are tested on tables.

Objectives: latency (min), int8 Dice (max), int8 file size (min). A latency only means something
on the runtime and machine that measured it, so fronts are formed per (runtime, machine). Whether
a candidate may win, or is stopped early, is the Budget's to say (scoring/budget.py), not a floor
of the search's own."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from ..scoring.budget import Budget

# The channel-ratio grid, as exact fractions: finer steps change the model by less than noise.
RATIO_STEP, LOW, HIGH, FIRST = Fraction(1, 16), Fraction(1, 4), Fraction(7, 8), Fraction(1, 2)
HOPELESS_MARGIN = 0.10  # a candidate whose float score after recovery is this far below the floor is stopped


@dataclass(frozen=True)
class Row:
    """One candidate as measured on one runtime and machine."""

    trial: int
    ratio: float
    dice: float  # int8, in the reference runtime (LiteRT)
    bytes: int  # the int8 .tflite file
    latency_ms: float  # p50 on `runtime` on `machine`
    runtime: str
    machine: str  # bench/machine.py's label: rows from two machines never mix
    kind: str = "uniform"  # a KINDS entry: how `ratio` became channel counts

    def to_dict(self) -> dict:
        return asdict(self)


def grid(low: Fraction = LOW, high: Fraction = HIGH) -> list[float]:
    """Every ratio on the 1/16 grid from low to high."""
    count = int((high - low) / RATIO_STEP)
    return [float(low + i * RATIO_STEP) for i in range(count + 1)]


def _level(ratio: float) -> int:
    """1 for 1/2, 2 for quarters, 3 for eighths, 4 for sixteenths: coarse points come first."""
    value, level = Fraction(ratio).limit_denominator(64), 0
    while value.denominator > 2 ** level:
        level += 1
    return level


def search_order(ratios: list[float]) -> list[float]:
    """A fixed order of the whole grid, for a study queued up front (open_study's `ratios`; the
    --prune auto run proposes from results instead, see `propose`). The faster half (ratio >= 1/2)
    before the slower one; in each, its halves and quarters
    first (1/2, 3/4: the front spans the range early), then the rest from the fastest down: the
    winner is the fastest candidate within the budget, so the fastest untried candidates are the
    ones that can still change it. Fixed, so the same study asks for the same candidates however
    many workers pull from it, and a resumed one continues the same sequence."""
    return sorted(ratios, key=lambda r: (r < float(FIRST), _level(r) > 2, min(_level(r), 3), -r))


# The candidate kinds, tried in this order when they have had as many trials. Each is a `ratio`,
# a share of something removed, so one bisection serves them all:
#   uniform:    the share of every prunable layer's channels removed (FLOPs fall with it);
#   per_layer:  the share of the plain int8 model's *measured* latency to cut, reached by per-layer
#               channel counts chosen on the target's latency table (prune/per_layer.py);
#   resolution: the share of plain int8's measured latency an input-resolution scale cuts
#               (prune/resolution.py). Its ratios are not the grid but the table's options (the
#               scales that beat its noise, `points`): where int8 pays per pixel, not per channel.
KINDS = ("uniform", "per_layer", "resolution")  # KINDS[0]: the kind of a trial that names none (older studies)
# The order kinds are proposed in when they have had as many trials. Resolution first where the
# table offers a scale: on CPUs whose int8 kernels are flat in channels a scale is what buys speed
# (benchmarks/resolution.py: 3.45x plain int8 at 0.5, 0.991x Dice, where channels gave 1.37x), and
# under load a 600 s study that tried it after a uniform trial and the table had no time left for it.
PROPOSAL_ORDER = ("resolution", "uniform", "per_layer")


@dataclass(frozen=True)
class Result:
    """What the proposal needs of a candidate tried (or being tried) so far."""

    kind: str
    ratio: float
    hit: bool | None  # deployable by the budget; None while its trial still runs
    ceiling: bool = False  # bolder ratios of this kind change nothing (the table's last step was reached)
    empty: bool = False  # this kind cannot remove anything here (no step in the latency table)


def _snap(value: float, low: Fraction, high: Fraction) -> float:
    """The grid point nearest `value`, within [low, high]."""
    steps = round(Fraction(value) / RATIO_STEP)
    return float(min(max(steps * RATIO_STEP, low), high))


def next_ratio(results: list[Result], low: Fraction = LOW, high: Fraction = HIGH,
               options: list[float] | None = None) -> float | None:
    """One kind's next ratio, bisecting between its boldest hit (or 0: the unpruned model is a hit)
    and its gentlest miss above that (or 1: removing everything misses): after a miss the next try
    is gentler, after a hit bolder. Trials still running split the interval too (their midpoints
    are taken, widest gap first, bolder first on a tie), so parallel workers try different ratios.
    None when no untried grid point lies strictly inside a gap (converged). With `options` (a kind
    of a few discrete options) the ratio is instead the boldest untried option inside a gap: the
    winner is the fastest candidate within the budget, so the fastest option is the one to learn
    first, and a miss leads to the next gentler one."""
    lo = max((r.ratio for r in results if r.hit), default=0.0)
    stops = [r.ratio for r in results if (r.hit is False or r.ceiling) and r.ratio >= lo]
    hi = min(stops, default=1.0)
    tried = {r.ratio for r in results}
    points = sorted({lo, hi, *(r.ratio for r in results if r.hit is None and lo < r.ratio < hi)})
    gaps = sorted(zip(points, points[1:]), key=lambda g: (g[0] - g[1], -g[1]))
    for a, b in gaps:
        if options is not None:
            inside = [p for p in options if a < p < b and p not in tried]
            if inside:
                return max(inside)
            continue
        middle = _snap((a + b) / 2, low, high)
        if a < middle < b and middle not in tried:
            return middle
    return None


# The kinds whose ratios are options a measurement offers (a callable: asked only when the kind's
# turn comes, as it may measure the latency table), not the 1/16 grid; without it, never proposed.
OPTION_KINDS = ("resolution",)


def propose(results: list[Result], limit: int, kinds: tuple[str, ...] = PROPOSAL_ORDER,
            points: dict[str, Callable[[], list[float]]] | None = None) -> tuple[str, float] | None:
    """The next candidate (kind, ratio) from the results so far, or None when `limit` candidates
    were tried or every kind converged. The kind with the fewest trials goes first (ties in
    `kinds` order), so each kind gets its share of the trials; a kind that showed it cannot
    remove anything on this target is dropped, and so is an OPTION_KINDS kind with no options
    (`points[kind]()` empty or absent)."""
    if len(results) >= limit:
        return None
    points = points or {}
    live = [k for k in kinds if not any(r.kind == k and r.empty for r in results)
            and (k not in OPTION_KINDS or k in points)]
    for kind in sorted(live, key=lambda k: sum(r.kind == k for r in results)):
        options = sorted(points[kind]()) if kind in OPTION_KINDS else None
        if options is not None and not options:
            continue
        ratio = next_ratio([r for r in results if r.kind == kind], options=options)
        if ratio is not None:
            return kind, ratio
    return None


def fastest_first(r: Row) -> tuple:
    """Order by latency, then higher Dice, then trial number."""
    return r.latency_ms, -r.dice, r.trial


def dominates(a: Row, b: Row) -> bool:
    """a is no worse than b in all three objectives and better in one."""
    no_worse = a.latency_ms <= b.latency_ms and a.dice >= b.dice and a.bytes <= b.bytes
    better = a.latency_ms < b.latency_ms or a.dice > b.dice or a.bytes < b.bytes
    return no_worse and better


def pareto_front(rows: list[Row]) -> list[Row]:
    """The rows no other row dominates, fastest first. Rows must share one runtime and machine."""
    if len({(r.runtime, r.machine) for r in rows}) > 1:
        raise ValueError("a Pareto front mixes latencies from different runtimes or machines")
    front = [r for r in rows if not any(dominates(o, r) for o in rows)]
    return sorted(front, key=fastest_first)


def by_device(rows: list[Row]) -> dict[tuple[str, str], list[Row]]:
    """Rows grouped by (runtime, machine), in first-seen order."""
    groups: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        groups.setdefault((r.runtime, r.machine), []).append(r)
    return groups


def winner(rows: list[Row], deployable: Callable[[Row], bool]) -> Row | None:
    """The fastest candidate the budget calls deployable (`deployable`: the Budget's verdict on
    its int8 scores); ties by higher Dice, then smaller file. One runtime and machine."""
    return next(iter(pareto_front([r for r in rows if deployable(r)])), None)


def hopeless(float_dice: float | None, budget: "Budget", margin: float = HOPELESS_MARGIN) -> str | None:
    """Why a candidate is stopped early (after its recovery fine-tuning the float model is already
    far below the budget's floor, so int8, which only loses, cannot reach it), or None."""
    return budget.beyond_recovery(float_dice, margin)


def candidate_key(model_sha256: str, data: dict, candidate: dict, settings: dict, seed: int) -> str:
    """The cache key of a fine-tuned candidate: the same model file, data, candidate, fine-tuning
    settings and seed give the same key, and a change to any of them a new one."""
    blob = json.dumps({"model": model_sha256, "data": data, "candidate": candidate, "settings": settings,
                       "seed": seed}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


__all__ = ["HOPELESS_MARGIN", "KINDS", "OPTION_KINDS", "PROPOSAL_ORDER", "Result", "Row", "by_device", "candidate_key", "dominates", "grid", "hopeless",
           "next_ratio", "pareto_front", "propose", "search_order", "winner"]
