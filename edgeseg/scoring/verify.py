"""Every artifact is loaded and scored in the runtime that will run it."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from ..data.dataset import SegmentationData
from .predictors import Predictor, evaluate_predictor
from ..runtimes import reference_runtime


@dataclass
class Verified:
    runtime: str
    scores: dict
    load_seconds: float
    session: object = field(repr=False, default=None)


def open_in_runtime(path: Path) -> tuple[object, float, str]:
    """(session, load seconds, runtime name) of an artifact in the runtime that will run it."""
    runtime = reference_runtime(path)
    ok, reason = runtime.is_available()
    if not ok:
        raise RuntimeError(f"{runtime.name} unavailable: {reason}")
    start = time.perf_counter()
    session = runtime.load(path)
    return session, time.perf_counter() - start, runtime.name


def verify(path: Path, val: SegmentationData, reference: Predictor, batch_size: int) -> Verified:
    session, load_seconds, runtime = open_in_runtime(path)
    scores = evaluate_predictor(session.run, val, batch_size, reference=reference)
    return Verified(runtime, scores, load_seconds, session)
