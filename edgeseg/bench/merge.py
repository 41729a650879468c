"""`edgeseg bench merge`: bench files from several machines as one table and one plot,
each row labelled with the machine it was measured on."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from ..errors import UsageError
from ..artifacts.bench_report import SCHEMA, BenchReport
from .report import load_bench


def merge(paths: list[Path]) -> BenchReport:
    if not paths:
        raise UsageError("bench merge needs at least one bench JSON file")
    reports = [load_bench(p) for p in paths]
    if any(r.machines is not None for r in reports):
        raise UsageError("bench merge takes the bench files of single runs, not merged files")
    labels = [r.machine["label"] for r in reports]
    rows, machines = [], []
    for path, report in zip(paths, reports):
        label = report.machine["label"]
        if labels.count(label) > 1:  # two runs on one machine: keep them apart by file
            label = f"{label} [{Path(path).name}]"
        machines.append(report.machine | {"label": label})
        rows += [dataclasses.replace(row, machine=label) for row in report.rows]
    return BenchReport(SCHEMA, rows, machines=machines, extra={"merged_from": [str(p) for p in paths]})
