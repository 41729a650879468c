"""What a model edgeseg trained records about its data (beside its preprocessing spec), so
that compress and bench can rebuild the same validation split without --data."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from ..config import DataConfig


def data_record(data: DataConfig) -> dict:
    """The DataConfig as a dict, with a directory made absolute: enough to rebuild the split."""
    source = data.source if data.is_synthetic else str(Path(data.source).resolve())
    return dataclasses.asdict(dataclasses.replace(data, source=source))


def from_record(record: dict) -> DataConfig:
    """Fields this version does not know are ignored, so older and newer records both load."""
    known = {f.name for f in dataclasses.fields(DataConfig)}
    return DataConfig(**{k: v for k, v in record.items() if k in known})
