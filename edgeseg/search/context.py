"""--prune auto: what every candidate is made from, the runtime it is timed on, and its int8 file."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..config import CompressConfig
from ..errors import UsageError
from ..scoring.budget import Budget


@dataclass
class SearchContext:
    """What every candidate is made from and measured against."""

    model: object
    train: object
    val: object
    config: CompressConfig
    spec_dict: dict
    calibration: object
    budget: Budget  # compress's: the only judge of a candidate (its floor, agreement and baseline check)
    target_dice: float
    folder: Path  # OUT/search inside the run's temporary directory
    distill: dict
    log: Callable[[str], None]

    @property
    def floor(self) -> float:
        """The budget's floor, for the study's record and plot."""
        return self.budget.floor

    def timing_image(self):
        """The one image every candidate is timed on."""
        return self.val.batch([0])[0].astype("float32")


def target_runtime(name: str):
    from ..runtimes import REGISTRY

    runtime = REGISTRY.get(name)
    if runtime is None or "tflite" not in runtime.formats:
        tflite = [n for n, r in REGISTRY.items() if "tflite" in r.formats]
        raise UsageError(f"--target must be a runtime that runs TFLite ({', '.join(tflite)}), got {name!r}")
    ok, reason = runtime.is_available()
    if not ok:
        raise UsageError(f"--target {name} is unavailable here: {reason}")
    return runtime


def int8_file(model, ctx: SearchContext, name: str) -> Path:
    from ..quantize.tflite_int8 import calibrate, quantize_calibrated
    from ..artifacts.tflite import finalize

    path = ctx.folder / name
    path.write_bytes(finalize(quantize_calibrated(calibrate(model, ctx.calibration), True), ctx.spec_dict))
    return path


__all__ = ["SearchContext", "int8_file", "target_runtime"]
