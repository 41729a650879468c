"""The typed parts of an artifact's record in compress's report.json: the guard's attempts and
the explain section (where int8 hurts). Each keeps the keys it does not know in `extra`, and a
field declared with `optional()` is left out when None, so the records write exactly the JSON
shape earlier versions wrote."""
from __future__ import annotations

from dataclasses import dataclass, field

from . import typed
from .typed import optional


@dataclass
class Attempt:
    """One rung of the guard's remedy ladder, as tried for the artifact."""

    method: str
    dice: float | None = optional()
    met_budget: bool | None = optional()
    seconds: float | None = optional()
    detail: str | None = optional()
    extra: dict = field(default_factory=dict)  # instance models: the PQ/F1 it was judged by, its decoding


@dataclass
class ExplainLayer:
    """One layer group: its int8 error, the score (the section's metric: Dice, or PQ for instance
    models) it costs alone in int8, whether the repair kept it float. The field keeps its first name."""

    name: str
    position: int | None = optional()
    macs: int | None = optional()
    mse: float | None = optional()
    rmse_steps: float | None = optional()
    dice_cost: float | None = None
    kept_float: bool = False
    extra: dict = field(default_factory=dict)


@dataclass
class RepairStep:
    float_layers: list[str]
    score: float | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class RepairLatency:
    """The mixed artifact against full int8, timed interleaved."""

    runtime: str
    threads: int
    full_int8_p50_ms: float
    mixed_p50_ms: float
    ratio: float
    extra: dict = field(default_factory=dict)


@dataclass
class Repair:
    """The mixed-precision rung's choice: the layers kept in float and what it cost."""

    float_layers: list[str]
    met: bool | None = optional()  # whether the floor held with these layers in float
    score: float | None = optional()
    int8_mac_share: float | None = optional()
    ranked_by: str | None = optional()
    steps: list[RepairStep] = field(default_factory=list)
    latency: RepairLatency | None = optional()
    extra: dict = field(default_factory=dict)


@dataclass
class ExplainRecord:
    """Where int8 hurts in one int8 artifact (compress/explain.py)."""

    method: str | None = None
    repaired_layers: list[str] = field(default_factory=list)
    metric: str | None = optional()  # what the dice_* fields measure: "dice", or "pq" (instance); absent: dice
    layers: list[ExplainLayer] | None = optional()
    dice_full_int8: float | None = optional()
    layer_error: str | None = optional()
    dice_all_float: float | None = optional()
    dice_cost: str | None = optional()
    layers_unavailable: str | None = optional()
    repair: Repair | None = optional()
    disagreement_share: float | None = optional()
    plot: str | None = optional()
    heatmap: str | None = optional()
    plots_unavailable: str | None = optional()
    seconds: float | None = optional()
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return typed.to_dict(self)
