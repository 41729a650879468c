"""Frozen, typed configuration shared by the CLI, the API and the reports."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Literal

from .config_dict import config_from_dict
from .errors import DataError, UsageError
from .safety import finite

Normalize = Literal["0-1", "-1-1", "none"]
NORMALIZE_CHOICES: tuple[str, ...] = ("0-1", "-1-1", "none")
ARCH_CHOICES: tuple[str, ...] = ("unet", "deeplab_lite")
PRESET_CHOICES: tuple[str, ...] = ("seed", "small", "tiny")
STRATEGY_CHOICES: tuple[str, ...] = ("none", "mirrored", "multiworker")
FORMAT_CHOICES: tuple[str, ...] = ("tflite", "onnx")
# "instance": one output tensor of sigmoid channels (foreground, inner distance[, boundary]),
# decoded into objects on the device (edgeseg.instances.decode).
TASK_CHOICES: tuple[str, ...] = ("semantic", "instance")
# Where exported .tflite (metadata) and .onnx (metadata_props) files carry their PreprocessSpec.
SPEC_METADATA_KEY = "edgeseg.spec"
LIMITS_EPOCHS = 100_000
LIMITS_STEPS = 1_000_000
# The one Edge TPU runtime version every command checks and compiles for by default
# (edgetpu_compiler 16's own default).
EDGETPU_RUNTIME = 14
# The one threshold convention of sigmoid outputs (metrics.foreground applies it everywhere), recorded
# in every spec: strictly above, since int8 outputs have a level at exactly 0.5.
THRESHOLD_RULE = "p > threshold"
PRUNE_CHOICES: tuple[str, ...] = ("magnitude", "channels", "auto", "none")


def check_seed(seed: int) -> None:
    """NumPy and TensorFlow take seeds in [0, 2**32)."""
    if not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise UsageError(f"--seed must be an integer from 0 to {2**32 - 1}, got {seed}")


@dataclass(frozen=True)
class PreprocessSpec:
    """How raw images become model input; saved inside every model edgeseg writes."""

    height: int
    width: int
    channels: int = 1
    normalize: Normalize = "0-1"
    threshold: float = 0.5
    classes: int = 1
    task: str = "semantic"
    instance_channels: int = 0  # instance models: 2 (foreground, distance) or 3 (+ boundary)
    decode: dict | None = None  # instance models: DecodeSettings.to_dict(), tuned on validation data
    threshold_rule: str = THRESHOLD_RULE  # older specs have none: the convention is the same for them

    def __post_init__(self) -> None:
        if self.normalize not in NORMALIZE_CHOICES:
            raise UsageError(f"normalize must be one of {', '.join(NORMALIZE_CHOICES)}, got {self.normalize!r}")
        if min(self.height, self.width) < 1 or self.channels not in (1, 3):
            raise UsageError(f"unsupported input shape {self.height}x{self.width}x{self.channels}")
        if self.classes < 1:
            raise UsageError("classes must be >= 1")
        finite("--classes", self.classes)  # masks are 8-bit: more classes would wrap silently
        finite("threshold", self.threshold, 0.0, 1.0)
        if self.threshold_rule != THRESHOLD_RULE:
            raise UsageError(f"threshold_rule must be {THRESHOLD_RULE!r} (edgeseg's one convention), "
                             f"got {self.threshold_rule!r}")
        if self.task not in TASK_CHOICES:
            raise UsageError(f"task must be one of {', '.join(TASK_CHOICES)}, got {self.task!r}")
        if self.task == "instance" and self.instance_channels not in (2, 3):
            raise UsageError(f"an instance model has 2 or 3 output channels, not {self.instance_channels}")

    @property
    def labels(self) -> int:
        """Number of label values a mask can take: background plus the foreground classes."""
        return max(2, self.classes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> "PreprocessSpec":
        known = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(raw, dict):
            raise DataError(f"malformed preprocessing spec: expected an object, got {type(raw).__name__}")
        types = {"height": int, "width": int, "channels": int, "normalize": str, "threshold": (int, float),
                 "classes": int}
        wrong = [k for k, v in raw.items() if k in types and (not isinstance(v, types[k]) or isinstance(v, bool))]
        if wrong:
            raise DataError(f"malformed preprocessing spec: {wrong[0]} is {raw[wrong[0]]!r}")
        if raw.get("threshold_rule", THRESHOLD_RULE) != THRESHOLD_RULE:
            raise DataError(f"unsupported preprocessing spec: threshold_rule {raw['threshold_rule']!r} "
                            f"(edgeseg counts {THRESHOLD_RULE!r})")
        missing = [k for k in ("height", "width") if k not in raw]
        if missing:
            raise DataError(f"malformed preprocessing spec: it has no {missing[0]!r}")
        return cls(**{k: v for k, v in raw.items() if k in known})


@dataclass(frozen=True)
class ModelConfig:
    arch: str = "unet"
    preset: str = "small"
    height: int | None = None
    width: int | None = None
    channels: int | None = None
    classes: int | None = None
    base_filters: int | None = None
    depth: int | None = None
    batchnorm: bool | None = None
    dropout: float | None = None
    task: str = "semantic"
    boundary: bool = False  # instance task: a third, boundary output channel

    def __post_init__(self) -> None:
        if self.task not in TASK_CHOICES:
            raise UsageError(f"unknown task {self.task!r}; choose one of {', '.join(TASK_CHOICES)}")
        if self.arch not in ARCH_CHOICES:
            raise UsageError(f"unknown arch {self.arch!r}; choose one of {', '.join(ARCH_CHOICES)}")
        if self.preset not in PRESET_CHOICES:
            raise UsageError(f"unknown preset {self.preset!r}; choose one of {', '.join(PRESET_CHOICES)}")
        for name, value, low, high in (("--height", self.height, 8, 4096), ("--width", self.width, 8, 4096),
                                       ("--base-filters", self.base_filters, 1, 1024), ("--depth", self.depth, 1, 8),
                                       ("--classes", self.classes, 1, 255), ("--dropout", self.dropout, 0.0, 0.99)):
            finite(name, value, low, high)

    @classmethod
    def from_dict(cls, raw, where: str = "ModelConfig", ignore_unknown: bool = False) -> "ModelConfig":
        return config_from_dict(cls, raw, where, ignore_unknown)


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from. source is a directory or the word 'synthetic'."""

    source: str = "synthetic"
    val_fraction: float = 0.2
    seed: int = 0
    synthetic_train: int = 512
    synthetic_val: int = 64
    augment: bool = True
    balance: Literal["none", "weight", "oversample"] = "none"

    @property
    def is_synthetic(self) -> bool:
        return self.source == "synthetic"

    def __post_init__(self) -> None:
        check_seed(self.seed)
        finite("--val-fraction", self.val_fraction)
        finite("--synthetic-train", self.synthetic_train, high=1_000_000)
        finite("--synthetic-val", self.synthetic_val, high=1_000_000)
        if not 0.0 < self.val_fraction < 1.0:
            raise UsageError("val_fraction must be in (0, 1)")
        if self.synthetic_train < 1 or self.synthetic_val < 1:
            raise UsageError("--synthetic-train and --synthetic-val must be >= 1")
        if self.balance not in ("none", "weight", "oversample"):
            raise UsageError(f"unknown balance mode {self.balance!r}")

    @classmethod
    def from_dict(cls, raw, where: str = "DataConfig", ignore_unknown: bool = False) -> "DataConfig":
        return config_from_dict(cls, raw, where, ignore_unknown)


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    normalize: Normalize = "0-1"
    epochs: int = 200  # a cap on passes over the data; the run is counted in optimizer steps
    batch_size: int = 16
    learning_rate: float = 3e-3  # the peak, after the warm-up; cosine decay to zero at the budget's end
    patience: int = 5  # epochs without a better smoothed validation score, counted in steps...
    seed: int = 0
    verbose: int = 1
    strategy: str = "none"
    max_steps: int = 1000  # the budget is the smaller of this and epochs x steps per epoch
    min_patience_steps: int = 200  # ...but never fewer steps than this (a few dozen images: 3 steps an epoch)
    eval_every: int = 50  # steps between validations (every epoch when an epoch is shorter)
    smooth: int = 3  # early stopping watches the median of this many latest validation scores
    warmup_fraction: float = 0.05

    def __post_init__(self) -> None:
        check_seed(self.seed)
        if self.epochs < 1 or self.batch_size < 1:
            raise UsageError("epochs and batch size must be >= 1")
        finite("--lr", self.learning_rate, 0.0, 10.0, low_open=True)
        finite("--epochs", self.epochs)
        finite("--batch-size", self.batch_size)
        finite("--patience", self.patience, 0, 100_000)
        finite("--max-steps", self.max_steps, 1, LIMITS_STEPS)
        finite("--min-patience-steps", self.min_patience_steps, 0, LIMITS_STEPS)
        finite("--eval-every", self.eval_every, 1, LIMITS_STEPS)
        finite("--smooth", self.smooth, 1, 100)
        finite("--warmup", self.warmup_fraction, 0.0, 0.5)
        if self.strategy not in STRATEGY_CHOICES:
            raise UsageError(f"unknown strategy {self.strategy!r}; choose one of {', '.join(STRATEGY_CHOICES)}")
        if self.strategy != "none" and self.data.balance == "oversample":
            raise UsageError("--balance oversample is not supported with --strategy; use --balance weight")
        if self.learning_rate <= 0:
            raise UsageError("learning rate must be > 0")

    @classmethod
    def from_dict(cls, raw, where: str = "TrainConfig", ignore_unknown: bool = False) -> "TrainConfig":
        return config_from_dict(cls, raw, where, ignore_unknown)


DEFAULT_SPARSITY = 0.5
DEFAULT_MAX_PQ_DROP = 0.02  # instance models: PQ may fall this much (absolute) below the float model's


@dataclass(frozen=True)
class CompressConfig:
    # None: the data the model records (models edgeseg trained), else no real data (see compress.data_source)
    data: DataConfig | None = None
    normalize: Normalize | None = "0-1"  # None (the command line's default): the one the model stores
    sparsity: float = DEFAULT_SPARSITY  # the magnitude-pruning target, used when prune is "magnitude"
    max_dice_drop: float = 0.01
    max_pq_drop: float | None = None  # instance models' budget (absolute PQ); None: DEFAULT_MAX_PQ_DROP
    qat: bool = False
    finetune_steps: int = 300  # maximum optimizer steps of pruning fine-tuning (early stop within the budget)
    finetune_min_steps: int = 100  # the floor: no early stop before it; the sparsity ramp ends inside it
    finetune_time: float | None = None  # seconds; fine-tuning stops at whichever of steps/time comes first
    finetune_lr: float = 5e-4
    qat_steps: int = 100
    distill: float = 0.0  # weight of the loss to the float model's probabilities during fine-tuning
    # --prune channels/auto: the step budget grows with the share of filters removed (ratio / 0.5)
    # up to this multiple of finetune_steps; 1 = fixed (prune/progressive.py). On hand-drawn masks
    # steps were what recovery lacked at 75-87.5% removed (benchmarks/recovery.py, RESULTS.md)
    finetune_scale: float = 2.0
    unlabeled: str | None = None  # a directory of images without masks, used only through the teacher
    batch_size: int = 8
    calibration_samples: int = 64
    onnx_opset: int = 17
    unsafe: bool = False
    custom_objects: str | None = None
    edgetpu: bool = False
    edgetpu_runtime: int = EDGETPU_RUNTIME
    prune: str = "none"  # see PRUNE_CHOICES; none, the default, is post-training quantization only
    channel_ratio: float = 0.5
    channel_rounds: int = 1  # remove-then-recover rounds (gradual channel pruning)
    # filter ranking: "taylor" (measured on the training data) or "l1" (weights). Taylor kept 0.99x of
    # float at 75% of the filters removed where L1 kept 0.87x (same 150 steps; benchmarks/RESULTS.md).
    channel_criterion: str = "taylor"
    target: str = "litert-cpu"  # --prune auto: the runtime whose latency the search minimizes
    search_trials: int = 4
    search_time: float = 600.0  # seconds; no new candidate is started after this
    study: str | None = None  # --prune auto's study: a file or database URL; None: OUT.study/study.sqlite3
    formats: tuple[str, ...] = FORMAT_CHOICES  # which artifact formats the plan makes
    explain: bool = False  # per-layer Dice cost, the layer plot and the disagreement heatmap (the error is always in)
    seed: int = 0
    verbose: int = 1

    def __post_init__(self) -> None:
        formats = self.formats.split(",") if isinstance(self.formats, str) else self.formats
        object.__setattr__(self, "formats", tuple(f.strip() for f in formats))  # a list or "tflite,onnx" is fine
        check_seed(self.seed)
        if self.prune not in PRUNE_CHOICES:
            raise UsageError(f"--prune must be one of {', '.join(PRUNE_CHOICES)}, got {self.prune!r}")
        if not self.formats or any(f not in FORMAT_CHOICES for f in self.formats):
            raise UsageError(f"--formats takes a comma-separated list of {', '.join(FORMAT_CHOICES)}, "
                             f"got {','.join(self.formats)!r}")
        self._check_combinations()
        for name, value in (("--sparsity", self.sparsity), ("--max-dice-drop", self.max_dice_drop),
                            ("--channel-ratio", self.channel_ratio)):
            finite(name, value)
        finite("--finetune-lr", self.finetune_lr, 0.0, 10.0, low_open=True)
        finite("--finetune-steps", self.finetune_steps, high=LIMITS_STEPS)
        finite("--qat-steps", self.qat_steps, high=LIMITS_STEPS)
        finite("--search-time", self.search_time, high=24 * 3600)
        finite("--search-trials", self.search_trials, high=1000)
        finite("--batch-size", self.batch_size)
        finite("--calibration-samples", self.calibration_samples, high=1_000_000)
        if self.channel_rounds < 1 or self.channel_criterion not in ("l1", "taylor"):
            raise UsageError("--channel-rounds must be >= 1 and --channel-criterion l1 or taylor")
        if self.search_trials < 1 or self.search_time <= 0:
            raise UsageError("--search-trials must be >= 1 and --search-time > 0")
        if not 0.0 < self.channel_ratio < 1.0:
            raise UsageError(f"--channel-ratio must be in (0, 1), got {self.channel_ratio}")
        if not 10 <= self.edgetpu_runtime <= 16:
            raise UsageError("--edgetpu-runtime must be an Edge TPU runtime version from 10 to 16")
        if not 0.0 <= self.sparsity < 1.0:
            raise UsageError(f"--sparsity must be in [0, 1), got {self.sparsity}")
        if not 0.0 <= self.max_dice_drop <= 1.0:
            raise UsageError(f"--max-dice-drop must be in [0, 1], got {self.max_dice_drop}")
        finite("--max-pq-drop", self.max_pq_drop, 0.0, 1.0)  # None (the default) passes
        if self.finetune_steps < 1:
            raise UsageError("--finetune-steps must be >= 1")
        if self.qat_steps < 1:
            raise UsageError("--qat-steps must be >= 1")
        if not 0 <= self.finetune_min_steps <= self.finetune_steps:
            raise UsageError("--finetune-min-steps must be in [0, --finetune-steps]")
        if self.finetune_time is not None and self.finetune_time <= 0:
            raise UsageError("--finetune-time must be > 0 seconds")
        if not 0.0 <= self.distill <= 1.0:
            raise UsageError(f"--distill must be in [0, 1], got {self.distill}")
        finite("--finetune-scale", self.finetune_scale, 1.0, 10.0)
        if self.unlabeled and self.distill <= 0:
            raise UsageError("--unlabeled images are used only through the teacher: give --distill WEIGHT too")
        if self.finetune_lr <= 0:
            raise UsageError("--finetune-lr must be > 0")
        if self.batch_size < 1:
            raise UsageError("--batch-size must be >= 1")
        if self.calibration_samples < 1:
            raise UsageError("--calibration-samples must be >= 1")
        if self.onnx_opset < 17:
            raise UsageError("--onnx-opset must be >= 17")

    @property
    def speed_candidates(self) -> bool:
        """--prune auto asks for the fastest model within the budget: the precision options the per-op
        profile showed can buy int8 speed where channels cannot (the float-ends artifact) are built,
        judged and timed beside the int8 one, and the verdict keeps the one measured faster."""
        return self.prune == "auto"

    @property
    def pq_budget(self) -> float:
        """The PQ budget of instance models: --max-pq-drop, else the default."""
        return DEFAULT_MAX_PQ_DROP if self.max_pq_drop is None else self.max_pq_drop

    def _check_combinations(self) -> None:
        """Flags that would be silently ignored together are refused instead."""
        if self.edgetpu and "tflite" not in self.formats:
            raise UsageError("--edgetpu checks the int8 TFLite model: add tflite to --formats")
        if self.qat and "tflite" not in self.formats:
            raise UsageError("--qat makes TFLite artifacts: add tflite to --formats")
        if self.distill > 0 and self.prune == "none":
            raise UsageError("--distill acts in pruning's fine-tuning: give --prune magnitude, channels or auto")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw, where: str = "CompressConfig", ignore_unknown: bool = False) -> "CompressConfig":
        return config_from_dict(cls, raw, where, ignore_unknown)


@dataclass(frozen=True)
class BenchConfig:
    """How `edgeseg bench` measures. Timed runs are at batch 1; Dice uses every validation image."""

    data: DataConfig | None = None  # None: the data of the compress report, else synthetic (bench.run.bench_data)
    normalize: Normalize | None = None
    runtimes: tuple[str, ...] = ("auto",)
    threads: int | None = None
    warmup: int = 5
    min_runs: int = 30
    min_time: float = 2.0
    round_time: float = 0.05
    cv_warn: float = 0.10
    batch_size: int = 8

    def __post_init__(self) -> None:
        if self.threads is not None and self.threads < 1:
            raise UsageError("--threads must be >= 1")
        finite("--threads", self.threads)
        finite("--min-time", self.min_time, 0.0)  # `inf` would never end
        finite("--min-runs", self.min_runs)
        finite("--warmup", self.warmup)
        if self.warmup < 0 or self.min_runs < 1:
            raise UsageError("--warmup must be >= 0 and --min-runs >= 1")
        if self.min_time < 0 or self.round_time <= 0:
            raise UsageError("--min-time must be >= 0")
        if not self.runtimes:
            raise UsageError("--runtimes needs 'auto' or at least one runtime name")

    @property
    def effective_threads(self) -> int:
        """CPU threads every runtime is given: --threads, else every core."""
        return self.threads or os.cpu_count() or 1

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw, where: str = "BenchConfig", ignore_unknown: bool = False) -> "BenchConfig":
        return config_from_dict(cls, raw, where, ignore_unknown)
