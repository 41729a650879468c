"""A fake runtime on a scripted clock, for testing the harness, the statistics and the CI gate
without timing anything real (the mock transport beside the real ones, as in httpx)."""
from __future__ import annotations

from itertools import cycle
from pathlib import Path
from typing import Iterable

import numpy as np

from ..artifacts.describe import TensorDesc


class ScriptedClock:
    """A perf_counter_ns stand-in that moves only when a fake session runs."""

    def __init__(self, start_ns: int = 1_000_000_000):
        self.now = start_ns

    def __call__(self) -> int:
        return self.now

    def advance_ms(self, ms: float) -> None:
        self.now += int(round(ms * 1e6))


class FakeSession:
    def __init__(self, clock: ScriptedClock, latencies_ms: Iterable[float]):
        self.clock, self._latencies, self.calls = clock, cycle(latencies_ms), 0

    def run(self, batch: np.ndarray) -> np.ndarray:
        self.calls += 1
        self.clock.advance_ms(next(self._latencies) * len(batch))
        # The image itself, as a probability map: bright blobs on a dark background score a
        # real, deterministic Dice on the synthetic data.
        return np.clip(np.asarray(batch, np.float32)[..., :1], 0.0, 1.0)

    @property
    def io(self) -> tuple[TensorDesc, TensorDesc]:
        return TensorDesc("input", (None, None, None, None), "float32"), TensorDesc("output", (None, None, None, 1),
                                                                                    "float32")


class FakeRuntime:
    """latencies_ms maps an artifact's file name to the per-image latencies its session
    reports, cycled; a missing name gets `default_ms`."""

    def __init__(self, name: str, clock: ScriptedClock, latencies_ms: dict[str, list[float]] | None = None,
                 default_ms: float = 10.0, device: str = "cpu", formats=("tflite", "onnx", "keras"),
                 available: tuple[bool, str] = (True, "fake 1.0")):
        self.name, self.device, self.formats = name, device, tuple(formats)
        self.clock, self.latencies_ms, self.default_ms = clock, latencies_ms or {}, default_ms
        self.available = available
        self.sessions: list[FakeSession] = []

    def is_available(self) -> tuple[bool, str]:
        return self.available

    def load(self, path: Path, threads: int | None = None) -> FakeSession:
        session = FakeSession(self.clock, self.latencies_ms.get(Path(path).name, [self.default_ms]))
        self.sessions.append(session)
        return session
