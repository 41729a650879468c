"""The scoring door's base: what every task answers (see scoring/task.py for the registry).

A `Task` names its metric (the score the budget is on), the scores its reports carry, the
config field of its budget, how a predictor is scored on data (the float baseline, a pruned
source, an artifact in its runtime, a bench row), the agreement with the float model, and the
wording of its lines. Callers ask `task_for(spec)` instead of testing the task's name; the
semantic and instance tasks live in scoring/semantic.py and scoring/instance.py. It does for
scoring what training/task_training.py does for fine-tuning."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..errors import UsageError
from .budget import Budget, report_budget

if TYPE_CHECKING:
    from ..config import CompressConfig, DataConfig, PreprocessSpec
    from ..data.dataset import SegmentationData
    from .predictors import Predictor
    from .sanity import BaselineCheck
    from .verify import Verified

Log = Callable[[str], None]
Refusal = tuple[Callable[["CompressConfig"], bool], str]  # (is the option set, the one line refusing it)


@dataclass
class BaselineStep:
    """compress's baseline step: the float model's scores, its sanity check, the spec every
    artifact stores (an instance model's with decoding settings) and the task's report section."""

    baseline: dict
    sanity: "BaselineCheck"
    spec: "PreprocessSpec"
    info: dict | None = None  # report.json's section for this task (None: the task has none)


@dataclass
class RowScores:
    """A bench row's scores; `decoding` (outputs, settings) when the task decodes the network's
    outputs on the device, so bench can time that decoding beside the network."""

    scores: dict
    decoding: tuple[list, object] | None = None


class Task:
    """The base: every task sets the data below and implements the scorers."""

    name: str
    metric: str  # the score the budget is on
    label: str  # how lines name it
    budget_field: str  # the CompressConfig field of its allowed drop
    report_section: str | None = None  # report.json's section that records the budget compress applied
    headline: tuple[str, ...] = ()  # the scores a pruned source's report section carries
    bench_label: str = ""  # what a bench row is scored by
    bench_note: str = ""  # appended to bench's first line
    refusals: tuple[Refusal, ...] = ()
    table_columns: tuple[str, ...] = ()  # compress's table: the task's columns, after IoU
    row_columns_after: dict = {}  # bench's table: {column: the task's columns that follow it}
    dice_column: bool = True  # bench's Dice column means something for this task's rows
    explains_int8: bool = False  # int8 artifacts get the where-int8-hurts section (and the mixed rung, if laddered)

    def __repr__(self) -> str:
        return f"<task {self.name}>"

    # options and budget
    def check_options(self, config: "CompressConfig") -> None:
        """Options that do nothing (or the wrong thing) for this task, refused in one line."""
        for is_set, message in self.refusals:
            if is_set(config):
                raise UsageError(message)

    def max_drop(self, config: "CompressConfig") -> float:
        return getattr(config, self.budget_field)

    def budget(self, baseline: dict, config: "CompressConfig", problem: str | None, judged: bool) -> Budget:
        return Budget(baseline[self.metric], self.max_drop(config), problem, judged, self.metric)

    def report_budget(self, report) -> Budget | None:
        """The budget a compress report of this task applied, or None where it lacks the fields."""
        return report_budget(report, self.metric, self.budget_field, self.report_section)

    # scoring
    def load_validation(self, data: "DataConfig", spec: "PreprocessSpec") -> "SegmentationData":
        from ..data.instance_data import load_task_splits

        return load_task_splits(data, spec)[1]

    def evaluate(self, predict: "Predictor", val: "SegmentationData", batch_size: int) -> dict:
        """A float model's (or pruned source's) scores on `val`, as the budget reads them."""
        raise NotImplementedError

    def describe(self, scores: dict) -> str:
        """The log line of `evaluate`'s scores."""
        raise NotImplementedError

    def masks(self, outputs, spec: "PreprocessSpec"):
        """(N, H, W) labels of a batch of network outputs, as the float and int8 masks are compared
        (the disagreement heatmap): the semantic labels here, the foreground for instance models."""
        from ..metrics.semantic import probabilities_to_labels

        return probabilities_to_labels(outputs, spec.threshold)

    def headline_scores(self, scores: dict) -> dict:
        return {name: scores[name] for name in ("dice", "iou", *self.headline) if name in scores}

    def float_check(self, predict: "Predictor", val: "SegmentationData", scores: dict, model, batch_size: int,
                    judged: bool, data_summary: str) -> str | None:
        """`edgeseg evaluate`'s line on the float model's plausibility, where the task has one."""
        return None

    def baseline_step(self, reference: "Predictor", val: "SegmentationData", spec: "PreprocessSpec",
                      config: "CompressConfig", judged: bool, model, log: Log) -> BaselineStep:
        raise NotImplementedError

    def verifier(self, val: "SegmentationData", reference: "Predictor", spec: dict, batch_size: int,
                 held_out: bool = False, original: "Predictor | None" = None) -> Callable[[Path], "Verified"]:
        """Scores an artifact in the runtime that will run it, with its agreement with `reference`."""
        raise NotImplementedError

    def judge_against_original(self, predict: "Predictor", original: "Predictor", val: "SegmentationData",
                               batch_size: int) -> tuple[dict, str | None]:
        """(facts, why it is refused or None): a pruned float model against the user's original one
        (collapse, and agreement). Tasks without such a check refuse nothing."""
        return {}, None

    def retune(self, path: Path, val: "SegmentationData", spec: dict, batch_size: int) -> tuple[dict, dict]:
        raise UsageError(f"{self.name} models have no decoding to re-tune")

    def artifact_extra(self, scores: dict, note: str) -> dict:
        """What an artifact's record carries beside the common fields."""
        return {}

    def decided_by(self, budget: Budget, scores: dict) -> str | None:
        """The score key that decided an artifact, where the task records it."""
        return None

    def score_row(self, predict: "Predictor", data: "SegmentationData", batch_size: int,
                  own_spec: dict | None) -> RowScores:
        raise NotImplementedError

    def row_fields(self, row: dict, scores: dict, decode_stats) -> dict:
        """A bench row with the task's own columns."""
        return row

    def row_line(self, scores: dict) -> str:
        raise NotImplementedError

    def bench_fields(self, floors: dict[str, float | None]) -> dict:
        """What a bench report adds for this task (`floors`: metric -> the budget's floor)."""
        return {}

    # wording of compress's verdict and report
    def recommended_fields(self, best, baseline) -> dict:
        return {}

    def budget_text(self, report) -> str:  # report: a CompressReport
        raise NotImplementedError

    def report_lines(self, report) -> list[str]:
        return []


__all__ = ["BaselineStep", "RowScores", "Task"]
