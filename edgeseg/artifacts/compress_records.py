"""The typed sections of compress's report.json (baseline, pruning sources, plan rows, sanity
check, recommendations, Edge TPU summary, instance decoding). Each keeps the keys it does not
know in `extra`, and a field declared with `optional()` is left out when None, so these records
write exactly the JSON shape earlier versions wrote and read every report they wrote."""
from __future__ import annotations

from dataclasses import dataclass, field

from . import typed
from .typed import optional


@dataclass
class Finetune:
    """One fine-tuning run: steps, the validation curve and why it stopped."""

    steps: int
    stopped_because: str = ""
    seconds: float = 0.0
    best_step: int | None = None
    best_dice: float | None = None  # the best validation score (PQ when metric is "pq"); None: none kept
    dice_curve: list = field(default_factory=list)  # [step, score] pairs
    metric: str = "dice"
    extra: dict = field(default_factory=dict)


@dataclass
class Scores:
    """The float model's (or a pruned source's) headline scores on the validation images."""

    dice: float | None = optional()
    iou: float | None = optional()
    images: int | None = optional()
    dice_per_image: float | None = optional()
    iou_per_image: float | None = optional()
    pixel_accuracy: float | None = optional()
    flops: int | None = optional()
    dice_per_class: list[float] | None = optional()
    iou_per_class: list[float] | None = optional()
    # Instance models: judged by PQ; Dice is the foreground's.
    pq: float | None = optional()
    sq: float | None = optional()
    rq: float | None = optional()
    f1: float | None = optional()
    aji: float | None = optional()
    count_mae: float | None = optional()
    extra: dict = field(default_factory=dict)


@dataclass
class Baseline(Scores):
    dice: float = field(kw_only=True)  # required in every report: the float model's Dice


@dataclass
class PruningRecord(Scores):
    """--prune magnitude: the target and measured sparsity, and the pruned Keras model's scores."""

    target: float | None = optional()
    sparsity_model: float | None = optional()
    steps: int | None = optional()
    kept_dense: list | None = optional()
    path: str | None = optional()
    finetune: Finetune | None = None


@dataclass
class ChannelsRecord(Scores):
    """--prune channels/auto: the filters removed, FLOPs and parameters, and the Keras scores."""

    ratio: float | None = optional()
    flops_ratio: float | None = optional()
    parameters: int | None = optional()
    parameters_before: int | None = optional()
    kept_filters: dict[str, list[int]] | list | None = optional()  # layer -> [filters kept, filters before]
    kept_whole: list | None = optional()
    input_scale: float | None = optional()  # --prune auto's resolution candidates: the network runs at this scale
    path: str | None = optional()
    finetune: Finetune | None = None


@dataclass
class PlanRow:
    """One target of the plan (compress.plan.Target as JSON)."""

    source: str
    format: str
    precision: str
    io: str
    filename: str
    methods: list = field(default_factory=list)
    follows: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class SanityRecord:
    """The float baseline's sanity check (scoring.sanity.BaselineCheck) and its message."""

    ok: bool
    problems: list[str] = field(default_factory=list)
    alternatives: dict[str, float] = field(default_factory=dict)
    input_layer: str | None = None
    suggestion: str | None = None
    skipped: str | None = None
    message: str = ""
    extra: dict = field(default_factory=dict)


@dataclass
class Recommendation:
    """The artifact to ship in one format, its quality and its ratios against the float one."""

    path: str
    precision: str
    bytes: int
    dice: float | None = None
    mask_agreement: float | None = None
    judged_by: str = "dice"  # dice, pq, or agreement (no real masks)
    baseline_dice: float | None = None
    size_ratio: float | None = None
    flops_ratio: float | None = None
    reference: str | None = None
    # Instance models (judged by PQ).
    pq: float | None = optional()
    f1: float | None = optional()
    agreement_pq: float | None = optional()
    baseline_pq: float | None = optional()
    baseline_f1: float | None = optional()
    decided_by: str | None = optional()
    pq_held_out: float | None = optional()
    f1_held_out: float | None = optional()
    p50_ms: float | None = optional()  # measured on `timed_on` when the format had a choice
    timed_on: str | None = optional()
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return typed.to_dict(self)


@dataclass
class EdgeTpuRecord:
    """compress --edgetpu: the operation check, and the compiler's result when it ran."""

    checked: str
    runtime_version: int
    ready: bool
    problems: list = field(default_factory=list)
    cpu_ops: list = field(default_factory=list)
    compiled: str | None = None
    reason: str | None = optional()
    compiler_log: str | None = optional()
    extra: dict = field(default_factory=dict)


@dataclass
class HeldOutRecord:
    """The cross-fitted scores of tuning the decoding on the validation images (instances/held_out.py):
    each fold decoded with settings tuned without it; PQ/F1 None when too few images to hold any out."""

    pq: float | None = None
    f1: float | None = None
    folds: int | None = optional()
    images_per_fold: list[int] | None = optional()
    unavailable: str | None = optional()
    extra: dict = field(default_factory=dict)  # the settings each fold chose, all pooled scores


@dataclass
class DecodeTuning:
    """Who tuned the decoding settings and, when compress did, on how many images and with what
    held-out score (the tuning's own fields, instances/decode.py, are kept in `extra`)."""

    tuned_by: str | None = optional()  # compress, training (stored in the model's spec), or nobody
    images: int | None = optional()
    held_out: HeldOutRecord | None = optional()
    extra: dict = field(default_factory=dict)


@dataclass
class InstanceRecord:
    """Instance models: the budget on PQ, the decoding settings and how they were tuned."""

    max_pq_drop: float
    decode: dict | None = None  # DecodeSettings.to_dict()
    decode_tuning: DecodeTuning = field(default_factory=DecodeTuning)
    ladder: list[str] = field(default_factory=list)  # the remedies, cheapest first
    budget_metric: str = "pq"
    extra: dict = field(default_factory=dict)
