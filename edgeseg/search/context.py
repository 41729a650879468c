"""--prune auto: what every candidate is made from, the runtime it is timed on, and its int8 file."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from ..config import CompressConfig
from ..errors import UsageError
from ..scoring.budget import Budget


@dataclass(frozen=True)
class SearchInputs:
    """What every candidate is made from and judged against (the same in compress and in a
    `search-worker --role train`)."""

    model: object
    train: object
    val: object
    config: CompressConfig
    spec_dict: dict
    calibration: object
    budget: Budget  # compress's: the only judge of a candidate (its floor, agreement and baseline check)
    target_dice: float
    distill: Mapping  # finetune's distillation arguments, empty when off
    log: Callable[[str], None]

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


@dataclass(frozen=True)
class StudyPlace:
    """Where a study and its candidates live, and what identifies the run that made it."""

    location: str  # the study's storage (a folder's sqlite file or a database URL)
    cache: Path  # the fine-tuned candidates, shared by every worker
    folder: Path  # this run's scratch files (OUT/search inside compress's temporary directory)
    model_sha256: str
    run: dict | None = None  # model and data paths, config, input shape: for joining workers


def int8_file(model, inputs: SearchInputs, path: Path, samples: int | None = None) -> Path:
    """The model's int8 TFLite file. `samples`: calibrate on only the first few images, for a file
    that is only timed (its ops and shapes do not depend on the ranges; calibration on the full
    set costs 14 s for the seed U-Net at 128x128, on 2 images 2-3 s)."""
    from ..quantize.tflite_int8 import calibrate, quantize_calibrated
    from ..artifacts.tflite import finalize

    calibration = inputs.calibration if samples is None else inputs.calibration[:samples]
    path.write_bytes(finalize(quantize_calibrated(calibrate(model, calibration), True), inputs.spec_dict))
    return path


__all__ = ["SearchInputs", "StudyPlace", "int8_file", "target_runtime"]
