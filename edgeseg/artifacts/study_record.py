"""--prune auto's study in compress's report.json (search/report.py builds it): every finished
candidate timed on this run's runtime and machine, the Pareto front of each runtime and machine,
the candidates stopped early, and the winner. Fields a writer leaves out when None are declared
`optional()`, so the record writes exactly the JSON it read."""
from __future__ import annotations

from dataclasses import dataclass, field

from . import typed
from .typed import optional


@dataclass
class StudyRow:
    """One candidate as measured on one runtime and machine, with the Budget's verdict on it."""

    trial: int
    ratio: float
    dice: float  # int8, in the reference runtime (LiteRT)
    bytes: int  # the int8 .tflite file
    latency_ms: float  # p50 on `runtime` on `machine`
    runtime: str
    machine: str
    float_dice: float | None = optional()
    gflops: float | None = optional()
    parameters: int | None = optional()
    key: str | None = optional()  # its entry in the candidate cache
    sha256: str | None = optional()
    cached: bool | None = optional()
    threads: int | None = optional()
    deployable: bool | None = optional()
    reason: str | None = optional()
    kind: str | None = optional()  # how `ratio` became a model: "uniform", "per_layer" or "resolution" (absent before)
    kept: dict[str, list[int]] | None = optional()  # layer -> [kept, original] output channels
    target_ms: float | None = optional()  # a per-layer candidate's plan: the latency it aimed at,
    estimated_ms: float | None = optional()  # what the latency table predicted,
    ceiling: bool | None = optional()  # and whether the table ran out of steps
    scale: float | None = optional()  # a resolution candidate's input scale (prune/resolution.py)
    extra: dict = field(default_factory=dict)


@dataclass
class StudyFront:
    runtime: str
    machine: str
    rows: list[StudyRow] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


@dataclass
class StoppedCandidate:
    """A candidate stopped early: its float score after recovery was far below the floor, or the
    latency table had no step for it."""

    trial: int
    ratio: float
    float_dice: float | None = None
    kind: str | None = optional()
    reason: str | None = optional()
    extra: dict = field(default_factory=dict)


@dataclass
class StudyRecord:
    engine: str
    study: str  # the study's location (a database URL without its password)
    target: str  # the runtime candidates were timed on
    machine: str
    floor: float
    seconds: float
    trials_run_here: int
    winner: float | None = None  # the winner's ratio
    winner_row: StudyRow | None = None
    candidates: list[StudyRow] = field(default_factory=list)
    fronts: list[StudyFront] = field(default_factory=list)
    pruned: list[StoppedCandidate] = field(default_factory=list)
    plot: str | None = None  # relative to the compress folder
    int8_p50_ms: float | None = None  # plain int8, timed in the same interleaved run
    winner_kind: str | None = optional()  # "uniform" or "per_layer" (absent before)
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return typed.to_dict(self)
