"""bench's decode timing for tasks whose outputs are decoded on the device (instance models):
each timed network run is followed by one timed decode of that artifact's own outputs, interleaved
with it, so the table shows what decoding adds on the same machine at the same time. How a row
is scored and which columns it gets is the task's (scoring/instance.py).

Nothing here imports TensorFlow: decoding is the deploy package's numpy/scipy decoder."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..config import DataConfig, PreprocessSpec
from ..data.dataset import SegmentationData
from ..instances.decode import DecodeSettings, decode
from ..scoring.task import task_for

# Outputs kept per row for timing the decoder: enough images for decode time to average over
# object counts, few enough that a 256x256x3 float map per image stays small (~50 MB at most).
MAX_DECODE_OUTPUTS = 64

Decoder = Callable[[np.ndarray, DecodeSettings], object]


def load_validation(config: DataConfig, spec: PreprocessSpec) -> SegmentationData:
    """The validation split as the spec's task reads it."""
    return task_for(spec).load_validation(config, spec)


@dataclass
class DecodeTimer:
    """Decodes one of an artifact's own outputs per call, cycling through them, with the settings
    stored in its spec. `decoder` is the device-side decode; tests pass one on a scripted clock."""

    outputs: list[np.ndarray]
    settings: DecodeSettings
    decoder: Decoder = decode
    samples_ns: list[int] = field(default_factory=list, repr=False)
    _next: int = 0

    @classmethod
    def of(cls, outputs: list[np.ndarray], settings: DecodeSettings, decoder: Decoder = decode) -> "DecodeTimer":
        return cls(outputs[:MAX_DECODE_OUTPUTS], settings, decoder)

    def decode_next(self) -> None:
        self.decoder(self.outputs[self._next % len(self.outputs)], self.settings)
        self._next += 1
