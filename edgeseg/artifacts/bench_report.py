"""bench's JSON (edgeseg.bench/1) as a typed record with one validating reader, used by the
gate, merge and bundle. A merged file lists several machines and labels each row. Its parts are
typed (bench_records.py) and write the JSON they read, so the schema stays 1."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ..config import BenchConfig
from ..errors import DataError
from . import typed
from .bench_records import MachineRecord, ProfileRecord, RuntimeAvailability
from .typed import optional

SCHEMA = "edgeseg.bench/1"
STATUSES = ("ok", "unavailable", "error")
# Figures an "ok" row must carry, finite and positive: the gate divides by them.
MEASURED = ("p50_ms",)
# row task -> what an ok row of it also carries: (positive, finite figures; scores in [0, 1]). An
# instance row: its decode time, PQ and F1. (artifacts/ sits below scoring/: a table, not the door.)
TASK_FIGURES: dict[str | None, tuple[tuple[str, ...], tuple[str, ...]]] = {"instance": (("decode_ms",), ("pq", "f1"))}


@dataclass
class BenchRow:
    artifact: str
    runtime: str
    status: str
    format: str | None = None
    precision: str | None = None
    device: str | None = None
    machine: str | None = None
    threads: int | None = None
    reason: str = ""
    bytes: int | None = None
    runs: int | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    dice: float | None = None
    # Instance models (added in schema 1 compatibly: reports without them read as before).
    task: str | None = None
    pq: float | None = None
    f1: float | None = None
    decode_ms: float | None = None
    decode_p90_ms: float | None = None
    decode_share: float | None = None
    profile: ProfileRecord | None = None  # `bench --profile`: per-op rows and per-op-type totals
    extra: dict = field(default_factory=dict)


@dataclass
class BenchReport:
    schema: str
    rows: list[BenchRow]
    machine: MachineRecord | None = optional()  # a single run's; a merged file has `machines`
    machines: list[MachineRecord] | None = optional()
    created: str | None = optional()  # ISO time, UTC
    config: BenchConfig | None = optional()  # as run
    data: str | None = optional()  # the validation data's source
    images: int | None = optional()  # how many validation images scored each row
    dice_floor: float | None = optional()  # compress's budget, where a compress report was found
    task: str | None = optional()  # the task's own fields (scoring's bench_fields): instance models
    pq_floor: float | None = optional()
    spec: dict | None = optional()  # PreprocessSpec.to_dict() of the artifacts
    runtimes: dict[str, RuntimeAvailability] | None = optional()
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return typed.to_dict(self)

    @classmethod
    def from_dict(cls, raw, where: str = "bench JSON") -> "BenchReport":
        typed.check_schema(raw, (SCHEMA,), where)
        machines = raw.get("machines") or ([raw["machine"]] if raw.get("machine") else [])
        if not machines or not all(isinstance(m, dict) and isinstance(m.get("label"), str) for m in machines):
            raise DataError(f"{where}: corrupt bench file (no machine label)")
        report = typed.from_dict(cls, raw, where)
        for n, row in enumerate(report.rows):
            _check_row(row, f"{where}: row {n}")
        return report


def _check_row(row: BenchRow, where: str) -> None:
    if row.status not in STATUSES:
        raise DataError(f"{where}: unknown status {row.status!r}")
    if row.status != "ok":
        return
    measured, scores = TASK_FIGURES.get(row.task, ((), ()))
    kind = f" {row.task}" if row.task in TASK_FIGURES else ""
    for key in MEASURED + measured:
        value = getattr(row, key)
        if value is None or not math.isfinite(value) or value <= 0:
            raise DataError(f"{where}: an ok{kind} row needs a positive, finite {key}, got {value!r}")
    for key in scores:
        value = getattr(row, key)
        if value is None or not 0.0 <= value <= 1.0:
            raise DataError(f"{where}: an ok{kind} row needs {key} in [0, 1], got {value!r}")


def read_bench_report(path: Path) -> BenchReport:
    return BenchReport.from_dict(typed.read_json(path, "bench JSON file"), str(path))
