"""The accuracy guard: int8 artifacts must stay within the Dice budget of the float model.

When plain post-training quantization misses the budget, cheaper-to-costlier remedies are
tried in order and the first that meets it is kept; every attempt is recorded."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..data.dataset import SegmentationData
from ..errors import describe
from ..evaluate import Predictor
from .sanity import check_agreement, scores_agree
from .verify import Verified, verify


@dataclass
class Attempt:
    method: str
    dice: float | None
    met_budget: bool
    seconds: float
    detail: str = ""

    def to_dict(self) -> dict:
        return {"method": self.method, "dice": self.dice, "met_budget": self.met_budget,
                "seconds": round(self.seconds, 2), "detail": self.detail}


@dataclass
class Guarded:
    path: Path | None
    method: str | None
    verified: Verified | None
    deployable: bool
    reason: str
    attempts: list[Attempt] = field(default_factory=list)


Remedy = tuple[str, Callable[[], bytes]]


def guard(remedies: list[Remedy], path: Path, val: SegmentationData, reference: Predictor,
          baseline_dice: float, budget: float, batch_size: int, log: Callable[[str], None]) -> Guarded:
    """Tries each (method, convert) in order; the first that meets the budget ends up at
    `path`, or else the best one, marked not deployable."""
    floor = baseline_dice - budget
    attempts: list[Attempt] = []
    best: tuple[float, Path, str, Verified] | None = None
    for n, (method, convert) in enumerate(remedies):
        start = time.perf_counter()
        # Each candidate gets its own file: a loaded interpreter may still map an earlier one.
        candidate = path.with_name(f".{path.stem}.try{n}{path.suffix}")
        try:
            candidate.write_bytes(convert())
            verified = verify(candidate, val, reference, batch_size)
        except Exception as exc:  # a remedy that cannot run here is recorded, and the next one tried
            detail = describe(exc)
            attempts.append(Attempt(method, None, False, time.perf_counter() - start, detail))
            log(f"    {method}: failed ({detail[:160]})")
            candidate.unlink(missing_ok=True)
            continue
        dice = verified.scores["dice"]
        agrees = scores_agree(verified.scores)  # a Dice that rose is no better than one that fell
        met = dice >= floor and agrees
        attempts.append(Attempt(method, dice, met, time.perf_counter() - start))
        log(f"    {method}: Dice {dice:.4f} ({'within' if dice >= floor else 'outside'} budget, floor {floor:.4f}"
            f"{'' if agrees else '; disagrees with the float model'}) in {time.perf_counter() - start:.1f} s")
        if best is None or dice > best[0]:
            if best is not None:
                best[1].unlink(missing_ok=True)
            best = (dice, candidate, method, verified)
        else:
            candidate.unlink(missing_ok=True)
        if met:
            break
    if best is None:
        return Guarded(None, None, None, False, "every quantization method failed", attempts)
    dice, candidate, method, verified = best
    candidate.replace(path)
    if dice >= floor and scores_agree(verified.scores):
        return Guarded(path, method, verified, True, f"within budget with {method}", attempts)
    if dice >= floor:
        return Guarded(path, method, verified, False, check_agreement(
            verified.scores.get("mask_agreement"), verified.scores.get("mean_abs_diff"))[1], attempts)
    return Guarded(path, method, verified, False,
                   f"Dice {dice:.4f} is below the floor {floor:.4f} (baseline {baseline_dice:.4f} - "
                   f"budget {budget}) after trying {', '.join(a.method for a in attempts)}", attempts)
