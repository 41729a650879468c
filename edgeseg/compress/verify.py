"""Every artifact is loaded and scored in the runtime that will run it."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from ..data.dataset import SegmentationData
from ..evaluate import Predictor, evaluate_predictor
from ..runtimes import reference_runtime


@dataclass
class Verified:
    runtime: str
    scores: dict
    load_seconds: float
    session: object = field(repr=False, default=None)


def verify(path: Path, val: SegmentationData, reference: Predictor, batch_size: int) -> Verified:
    runtime = reference_runtime(path)
    ok, reason = runtime.is_available()
    if not ok:
        raise RuntimeError(f"{runtime.name} unavailable: {reason}")
    start = time.perf_counter()
    session = runtime.load(path)
    load_seconds = time.perf_counter() - start
    scores = evaluate_predictor(session.run, val, batch_size, reference=reference)
    return Verified(runtime.name, scores, load_seconds, session)
