"""compress's report.json as a typed, versioned record, with the one reader that bench,
bundle, the device side and the API use.

Schema 2 adds each artifact's source (base, pruned, channels), its sha256, I/O type and
agreement with its float model, the plan, the data measured on, the baseline's sanity check
and the recommended artifacts; a schema-1 report still reads, with those fields empty.
Its sections are typed records (compress_records.py, artifact_records.py, study_record.py, the
config as CompressConfig) that write the same JSON, so the schema stays 2: from_dict(r.to_dict()) == r."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import CompressConfig, DataConfig, PreprocessSpec
from ..errors import DataError
from . import typed
from .artifact_records import Attempt, ExplainRecord
from .study_record import StudyRecord
from .typed import optional
from .compress_records import (Baseline, ChannelsRecord, EdgeTpuRecord, InstanceRecord, PlanRow, PruningRecord,
                               Recommendation, SanityRecord)

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
    # Its verification beyond the headline scores (None where it was not verified).
    dice_per_image: float | None = None
    mask_agreement: float | None = None  # against its float model's masks
    mean_abs_diff: float | None = None
    load_seconds: float | None = None
    dice_per_class: list[float] | None = optional()  # multi-class models
    reference: str | None = optional()  # a pruned source's float model file, its reference
    opset: int | None = optional()  # ONNX artifacts
    attempts: list[Attempt] | None = optional()  # quantized artifacts: the guard's rungs, in order
    explain: ExplainRecord | None = optional()  # int8 artifacts of semantic models: where int8 hurts
    # Deployable artifacts of a format with a choice between them (absent before): p50 on their
    # reference runtime, timed together in one interleaved run on the machine compress ran on.
    p50_ms: float | None = optional()
    timed_on: str | None = optional()
    extra: dict = field(default_factory=dict)  # the task's own fields (instance: its decoding, other scores)

    def to_dict(self) -> dict:
        return typed.to_dict(self)


@dataclass
class CompressReport:
    schema: str
    model: str
    model_sha256: str
    data: str
    spec: dict  # PreprocessSpec.to_dict(); a schema-1 report may hold an empty one (see `preprocess`)
    config: CompressConfig
    baseline: Baseline
    artifacts: list[ArtifactRecord]
    timings: dict[str, float] = field(default_factory=dict)  # step -> seconds
    pruning: PruningRecord | None = None
    channels: ChannelsRecord | None = None
    edgetpu: EdgeTpuRecord | None = None
    plan: list[PlanRow] | None = None
    data_origin: str | None = None  # given (--data), recorded (the model's training data) or none
    data_summary: str | None = None
    data_config: DataConfig | None = None  # the data measured on, so bench can measure on the same
    skipped: list[str] | None = None  # steps asked for that did not run, each with its reason
    sanity: SanityRecord | None = None  # the float baseline's check
    recommended: dict[str, Recommendation] | None = None  # format -> the artifact to ship
    # Legacy, read-only: older reports' removed channel-ratio bisection, kept as written (nothing writes it)
    search: dict | None = None
    study: StudyRecord | None = None  # --prune auto: the Pareto fronts per runtime and machine, the winner
    finetune_skipped: str | None = None  # why pruning was skipped (too little data)
    instance: InstanceRecord | None = None  # instance models: the budget on PQ, the decoding settings
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return typed.to_dict(self)

    @classmethod
    def from_dict(cls, raw, where: str = "report.json") -> "CompressReport":
        typed.check_schema(raw, READABLE, where)
        baseline = raw.get("baseline")
        if isinstance(baseline, dict) and not isinstance(baseline.get("dice"), (int, float)):
            raise DataError(f"{where}: baseline has no Dice")
        return typed.from_dict(cls, raw, where)

    def artifact(self, path: str) -> ArtifactRecord | None:
        return next((a for a in self.artifacts if a.path == path), None)

    @property
    def task(self) -> str:
        return self.spec.get("task", "semantic")

    @property
    def preprocess(self) -> PreprocessSpec:
        """The spec as its typed record (a DataError for a report that holds none)."""
        return PreprocessSpec.from_dict(self.spec)

    @property
    def exit_code(self) -> int:
        """3 when no int8 artifact is deployable, else 0."""
        ok = any(a.deployable for a in self.artifacts if a.precision in INT8_PRECISIONS)
        return 0 if ok else 3


def exit_code_for(report: dict) -> int:
    """CompressReport.exit_code of report.json as a dict."""
    ok = any(a["deployable"] for a in report["artifacts"] if a["precision"] in INT8_PRECISIONS)
    return 0 if ok else 3


def read_compress_report(directory: Path) -> CompressReport:
    """The report of a compress output folder; a DataError if it is missing or malformed."""
    path = Path(directory) / "report.json"
    return CompressReport.from_dict(typed.read_json(path, "edgeseg compress report"), str(path))


def find_compress_report(directory: Path) -> CompressReport | None:
    """Like read_compress_report, but None when the folder holds no report.json at all."""
    return read_compress_report(directory) if (Path(directory) / "report.json").is_file() else None
