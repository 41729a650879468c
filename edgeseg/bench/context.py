"""What a compress directory tells bench beyond its artifacts: the data compress measured on
(so bench's Dice matches report.json), which artifacts it called deployable, and the Dice floor
of its budget (drawn on the plot)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..artifacts.compress_report import CompressReport
from ..config import DataConfig
from .artifacts import _compress_report


@dataclass(frozen=True)
class CompressContext:
    data: DataConfig | None = None
    data_origin: str | None = None
    deployable: dict[str, bool] = field(default_factory=dict)
    dice_floor: float | None = None
    pq_floor: float | None = None  # instance models: the float PQ less compress's allowed drop


def _report_for(path: Path) -> tuple[Path, CompressReport] | None:
    directory = path if path.is_dir() else path.parent
    report = _compress_report(directory)
    return (directory, report) if report is not None else None


def _data_of(report: CompressReport) -> DataConfig | None:
    return report.data_config or report.config.data


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
    measured = report.data_origin != "none"
    return CompressContext(_data_of(report), report.data_origin, deployable,
                           _floor(report, "dice", "max_dice_drop") if measured else None,
                           _floor(report, "pq", "max_pq_drop") if measured else None)


def _floor(report: CompressReport, score: str, drop: str) -> float | None:
    """The baseline's score less the budget's allowed drop, where the report has both (an
    instance compress report is judged by PQ and may carry no Dice)."""
    value = getattr(report.baseline, score)
    # compress records the PQ budget it applied under "instance" (the config keeps None for the default)
    allowed = getattr(report.instance or report.config, drop, getattr(report.config, drop))
    return value - allowed if isinstance(value, (int, float)) and isinstance(allowed, (int, float)) else None
