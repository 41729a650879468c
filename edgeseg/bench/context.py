"""What a compress directory tells bench beyond its artifacts: the data compress measured on
(so bench's Dice matches report.json), which artifacts it called deployable, and the budget it
applied, rebuilt as the Budget compress judged by (its floors are drawn on the plot)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..artifacts.compress_report import CompressReport
from ..config import DataConfig
from ..scoring.budget import Budget
from ..scoring.task import TASKS
from .artifacts import _compress_report


@dataclass(frozen=True)
class CompressContext:
    data: DataConfig | None = None
    data_origin: str | None = None
    deployable: dict[str, bool] = field(default_factory=dict)
    budgets: dict[str, Budget] = field(default_factory=dict)  # metric -> the budget on it, where the report has one

    @property
    def floors(self) -> dict[str, float]:
        return {metric: budget.floor for metric, budget in self.budgets.items()}

    @property
    def dice_floor(self) -> float | None:
        return self.floors.get("dice")

    @property
    def pq_floor(self) -> float | None:  # instance models: the float PQ less compress's allowed drop
        return self.floors.get("pq")


def _report_for(path: Path) -> tuple[Path, CompressReport] | None:
    directory = path if path.is_dir() else path.parent
    report = _compress_report(directory)
    return (directory, report) if report is not None else None


def _data_of(report: CompressReport) -> DataConfig | None:
    return report.data_config or report.config.data


def report_budgets(report: CompressReport) -> dict[str, Budget]:
    """metric -> the Budget the report's baseline and budget fields give, for every task's metric
    the report carries (an instance report has foreground Dice too). Without real masks (data
    origin "none") there is no floor: agreement alone decided."""
    if report.data_origin == "none":
        return {}
    found = {task.metric: task.report_budget(report) for task in TASKS.values()}
    return {metric: budget for metric, budget in found.items() if budget is not None}


def compress_context(paths: list[Path]) -> CompressContext:
    """From the first compress report among `paths` (directories, or files inside one)."""
    found = [r for r in (_report_for(Path(p)) for p in paths if Path(p).exists()) if r is not None]
    if not found:
        return CompressContext()
    deployable = {}
    for directory, report in found:
        deployable.update({a.path: a.deployable for a in report.artifacts})
        deployable.update({f"{directory.name}/{a.path}": a.deployable for a in report.artifacts})
    report = found[0][1]
    return CompressContext(_data_of(report), report.data_origin, deployable, report_budgets(report))
