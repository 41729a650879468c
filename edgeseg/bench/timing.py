"""Latency statistics from raw nanosecond samples."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class LatencyStats:
    runs: int
    mean_ms: float
    std_ms: float
    min_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    cv: float  # std / mean: how steady the machine was while this row ran

    @classmethod
    def from_ns(cls, samples_ns: Sequence[int]) -> "LatencyStats":
        if len(samples_ns) == 0:
            raise ValueError("no timed runs")
        ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
        mean = float(ms.mean())
        std = float(ms.std(ddof=1)) if len(ms) > 1 else 0.0
        p50, p90, p99 = (float(v) for v in np.percentile(ms, [50, 90, 99]))
        return cls(len(ms), mean, std, float(ms.min()), p50, p90, p99, std / mean if mean > 0 else 0.0)

    @property
    def fps(self) -> float:
        """Images per second at batch 1, from the mean latency."""
        return 1000.0 / self.mean_ms if self.mean_ms > 0 else float("inf")

    def to_dict(self) -> dict:
        return asdict(self) | {"fps": self.fps}
