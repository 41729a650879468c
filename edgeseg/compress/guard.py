"""The accuracy guard: quantized artifacts must stay within the budget (Dice, or PQ for
instance models).

When plain post-training quantization misses the budget, cheaper-to-costlier methods are
tried in order and the first that meets it is kept; every attempt is recorded. The scorer is
an argument, so tests drive the guard with scripted Dice values."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import describe
from ..scoring.budget import Budget
from ..scoring.verify import Verified


@dataclass
class Attempt:
    method: str
    dice: float | None
    met_budget: bool
    seconds: float
    detail: str = ""
    scores: dict = field(default_factory=dict)  # instance models: the PQ/F1 it was judged by, its decoding

    def to_dict(self) -> dict:
        return {"method": self.method, "dice": self.dice, "met_budget": self.met_budget,
                "seconds": round(self.seconds, 2), "detail": self.detail, **self.scores}


@dataclass
class Guarded:
    path: Path | None
    method: str | None
    verified: Verified | None
    deployable: bool
    reason: str
    attempts: list[Attempt] = field(default_factory=list)


# What an attempt records beside Dice, when the verification measured it (instance models).
ATTEMPT_SCORES = ("pq", "f1", "agreement_pq", "decode", "pq_held_out", "f1_held_out")


def _judged_by(scores: dict) -> dict:
    return {k: scores[k] for k in ATTEMPT_SCORES if k in scores}


Candidate = tuple[str, Callable[[], bytes]]  # (method name, build the artifact's bytes)
Scorer = Callable[[Path], Verified]


def guard(candidates: list[Candidate], path: Path, score: Scorer, budget: Budget,
          log: Callable[[str], None], scorers: dict[str, Scorer] | None = None) -> Guarded:
    """Tries each (method, build) in order; the first that meets the budget ends up at
    `path`, or else the best one, marked not deployable. `scorers` replaces `score` for the
    methods it names (instance models: re-tuned decoding is also scored on held-out images)."""
    attempts: list[Attempt] = []
    best: tuple[float, Path, str, Verified] | None = None
    for n, (method, convert) in enumerate(candidates):
        start = time.perf_counter()
        # Each candidate gets its own file: a loaded interpreter may still map an earlier one.
        candidate = path.with_name(f".{path.stem}.try{n}{path.suffix}")
        try:
            candidate.write_bytes(convert())
            verified = (scorers or {}).get(method, score)(candidate)
        except Exception as exc:  # a remedy that cannot run here is recorded, and the next one tried
            detail = describe(exc)
            attempts.append(Attempt(method, None, False, time.perf_counter() - start, detail))
            log(f"    {method}: failed ({detail[:160]})")
            candidate.unlink(missing_ok=True)
            continue
        dice, value = verified.scores.get("dice"), budget.value(verified.scores)
        met, why = budget.judge(verified.scores, method=method)
        seconds = time.perf_counter() - start
        attempts.append(Attempt(method, dice, met, seconds, "" if met else why, _judged_by(verified.scores)))
        shown = "not measured" if value is None else f"{value:.4f}"
        if budget.deciding_key(verified.scores) != budget.metric:  # the optimistic in-sample score, for the record
            shown += f" (in-sample {budget.label} {verified.scores.get(budget.metric, float('nan')):.4f})"
        log(f"    {method}: {budget.label_of(verified.scores)} {shown}, {why if not met else 'within budget'} "
            f"({seconds:.1f} s)")
        value = -1.0 if value is None else value  # a held-out score that could not be measured ranks last
        if best is None or value > best[0] or met:  # the one that meets the budget is kept, whatever its score
            if best is not None:
                best[1].unlink(missing_ok=True)
            best = (value, candidate, method, verified)
        else:
            candidate.unlink(missing_ok=True)
        if met:
            break
    if best is None:
        return Guarded(None, None, None, False, "every quantization method failed", attempts)
    _, candidate, method, verified = best
    candidate.replace(path)
    deployable, reason = budget.judge(verified.scores, method=method, tried=tuple(a.method for a in attempts))
    return Guarded(path, method, verified, deployable, reason, attempts)
