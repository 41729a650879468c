"""`edgeseg bench merge`: bench files from several machines as one table and one plot,
each row labelled with the machine it was measured on."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from ..errors import DataError, UsageError
from ..artifacts.bench_records import MachineRecord
from ..artifacts.bench_report import SCHEMA, BenchReport
from .report import load_bench


# What the Markdown table says about each machine, and the type each field must have.
MACHINE_FIELDS = {"os": str, "arch": str, "threads": int, "accelerators": list, "packages": dict}


def check_machine_record(path: Path, machine: MachineRecord) -> None:
    """A machine record the Markdown description can be written from, or a DataError naming
    the file and the field (a hand-edited or foreign bench file)."""
    for name, kind in MACHINE_FIELDS.items():
        value = getattr(machine, name)
        if not isinstance(value, kind) or isinstance(value, bool):
            state = "lacks" if value is None else f"has a {type(value).__name__} for"
            raise DataError(f"{path}: the machine record {state} {name!r}, which --md describes; "
                            "remake the bench file, or leave --md out")


def merge(paths: list[Path], describe_machines: bool = False) -> BenchReport:
    """`describe_machines`: every machine record must hold what --md writes about it."""
    if not paths:
        raise UsageError("bench merge needs at least one bench JSON file")
    reports = [load_bench(p) for p in paths]
    if describe_machines:
        for path, report in zip(paths, reports):
            if report.machine is not None:
                check_machine_record(path, report.machine)
    if any(r.machines is not None for r in reports):
        raise UsageError("bench merge takes the bench files of single runs, not merged files")
    labels = [r.machine.label for r in reports]
    rows, machines = [], []
    for path, report in zip(paths, reports):
        label = report.machine.label
        if labels.count(label) > 1:  # two runs on one machine: keep them apart by file
            label = f"{label} [{Path(path).name}]"
        machines.append(dataclasses.replace(report.machine, label=label))
        rows += [dataclasses.replace(row, machine=label) for row in report.rows]
    return BenchReport(SCHEMA, rows, machines=machines, extra={"merged_from": [str(p) for p in paths]})
