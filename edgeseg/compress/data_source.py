"""Which data compress (and bench) measure on, and what that data can tell.

A model edgeseg trained records its data (`trained_on` beside its spec); compress uses it when
--data is not given. A foreign model with no --data is still converted, but only on stand-in
synthetic images: its artifacts are judged by agreement with the float model, and nothing is
trained (fine-tuning a user's model on ellipses harms it)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import DataConfig
from ..data.record import from_record

GIVEN, RECORDED, NONE = "given", "recorded", "none"


@dataclass(frozen=True)
class DataChoice:
    data: DataConfig  # what is loaded; the synthetic stand-in when origin is NONE
    origin: str  # GIVEN (--data), RECORDED (the model's training data) or NONE
    note: str = ""

    @property
    def judged_by_dice(self) -> bool:
        """Whether Dice against these masks means anything for this model."""
        return self.origin != NONE

    def summary(self) -> str:
        if self.origin == NONE:
            why = self.note or "the model records no training data"
            return (f"no --data, and {why}: NOTHING WAS MEASURED AGAINST REAL MASKS. "
                    "Artifacts were converted and calibrated on synthetic stand-in images and judged only by "
                    "agreement with the float model; no fine-tuning, pruning or QAT ran. "
                    "Give --data DIR for real numbers (or --data synthetic to judge on synthetic masks anyway).")
        where = "the data the model was trained on, as recorded in it" if self.origin == RECORDED else "given with --data"
        return f"measured on {self.data.source}: {where}" + (f"; {self.note}" if self.note else "")


def choose_data(model_path: Path, given: DataConfig | None) -> DataChoice:
    if given is not None:
        return DataChoice(given, GIVEN)
    from ..models.io import stored_training_data

    record = stored_training_data(model_path) if Path(model_path).suffix in (".keras", ".h5", ".hdf5") else None
    if record:
        recorded = from_record(record)
        if recorded.is_synthetic or Path(recorded.source).is_dir():
            return DataChoice(recorded, RECORDED)
        return DataChoice(DataConfig(), NONE, f"the recorded training data {recorded.source} is gone")
    return DataChoice(DataConfig(), NONE)


def skipped_steps(prune: str, sparsity: float, qat: bool, choice: DataChoice) -> list[str]:
    """The training steps asked for that do not run without real data, each said in one line."""
    if choice.judged_by_dice:
        return []
    asked = [name for name, wanted in (("pruning", prune != "none" and (prune == "channels" or sparsity > 0)),
                                       ("quantization-aware training", qat)) if wanted]
    return [f"skipped {name}: it fine-tunes the model, and there are no real images to fine-tune on" for name in asked]
