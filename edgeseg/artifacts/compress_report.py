"""compress's report.json as a typed, versioned record, with the one reader that bench,
bundle, the device side and the API use.

Schema 2 adds each artifact's source (base, pruned, channels), its sha256, I/O type and
agreement with its float model, the plan, the data measured on, the baseline's sanity check
and the recommended artifacts; a schema-1 report still reads, with those fields empty."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError
from . import typed

SCHEMA = "edgeseg.compress/2"
READABLE = ("edgeseg.compress/1", SCHEMA)
INT8_PRECISIONS = {"int8", "int8+float", "int16x8"}


@dataclass
class ArtifactRecord:
    path: str  # relative to the compress folder
    format: str
    precision: str
    bytes: int
    deployable: bool
    reason: str
    dice: float | None = None
    iou: float | None = None
    gzip_bytes: int | None = None
    sparsity: float | None = None
    flops: int | None = None
    max_abs_diff: float | None = None
    runtime: str | None = None
    method: str | None = None
    source: str = "base"
    io: str | None = None
    sha256: str | None = None
    # Instance models (absent from older reports): PQ and F1@0.5 against the true instances,
    # decoded with the settings the artifact stores, and PQ against the float model's instances.
    pq: float | None = None
    f1: float | None = None
    agreement_pq: float | None = None
    # Instance artifacts whose decoding was re-tuned on the validation images (absent before):
    # PQ/F1 cross-fitted on images the settings were not tuned on, and the score that decided
    # the verdict ("pq", or "pq_held_out" for a re-tuned artifact).
    pq_held_out: float | None = None
    f1_held_out: float | None = None
    decided_by: str | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return typed.to_dict(self)


@dataclass
class CompressReport:
    schema: str
    model: str
    model_sha256: str
    data: str
    spec: dict
    config: dict
    baseline: dict
    artifacts: list[ArtifactRecord]
    timings: dict = field(default_factory=dict)
    pruning: dict | None = None
    channels: dict | None = None
    edgetpu: dict | None = None
    plan: list | None = None
    data_origin: str | None = None  # given (--data), recorded (the model's training data) or none
    data_summary: str | None = None
    data_config: dict | None = None  # the DataConfig measured on, so bench can measure on the same
    skipped: list | None = None  # steps asked for that did not run, each with its reason
    sanity: dict | None = None  # the float baseline's check
    recommended: dict | None = None  # format -> the artifact to ship
    search: dict | None = None  # --prune auto: every candidate (ratio, GFLOPs, parameters, p50, Dice, deployable)
    study: dict | None = None  # --prune auto on Optuna: the Pareto fronts per runtime and machine, the winner
    finetune_skipped: str | None = None  # why pruning was skipped (too little data)
    instance: dict | None = None  # instance models: the budget on PQ, the decoding settings and how they were tuned
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return typed.to_dict(self)

    @classmethod
    def from_dict(cls, raw, where: str = "report.json") -> "CompressReport":
        typed.check_schema(raw, READABLE, where)
        report = typed.from_dict(cls, raw, where)
        if not isinstance(report.baseline.get("dice"), (int, float)):
            raise DataError(f"{where}: baseline has no Dice")
        return report

    def artifact(self, path: str) -> ArtifactRecord | None:
        return next((a for a in self.artifacts if a.path == path), None)

    @property
    def exit_code(self) -> int:
        return exit_code_for(self.to_dict())


def exit_code_for(report: dict) -> int:
    """3 when no int8 artifact is deployable, else 0 (report.json as a dict)."""
    ok = any(a["deployable"] for a in report["artifacts"] if a["precision"] in INT8_PRECISIONS)
    return 0 if ok else 3


def read_compress_report(directory: Path) -> CompressReport:
    """The report of a compress output folder; a DataError if it is missing or malformed."""
    path = Path(directory) / "report.json"
    return CompressReport.from_dict(typed.read_json(path, "edgeseg compress report"), str(path))


def find_compress_report(directory: Path) -> CompressReport | None:
    """Like read_compress_report, but None when the folder holds no report.json at all."""
    return read_compress_report(directory) if (Path(directory) / "report.json").is_file() else None
