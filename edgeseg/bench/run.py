"""`edgeseg bench` as a function: collect artifacts, plan rows, measure, report, gate."""
from __future__ import annotations

import datetime
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..artifacts.bench_report import SCHEMA, BenchReport
from ..config import BenchConfig, DataConfig
from ..errors import UsageError
from ..outputs import check_output_file, write_file_atomic
from ..runtimes import REGISTRY, Runtime
from ..safety import resolved
from .artifacts import collect, resolve_spec
from .context import CompressContext, compress_context
from .harness import Clock, plan, run_rows
from .instance import load_validation
from ..scoring.task import task_for
from ..runtimes.machine import machine_info
from .report import pyplot, render_csv, render_json, render_markdown, render_plot


@dataclass(frozen=True)
class Outputs:
    json: Path | None = None
    csv: Path | None = None
    md: Path | None = None
    plot: Path | None = None
    force: bool = False
    inputs: tuple = ()  # artifacts, data, baseline: an output that is or lies in one is refused
    show_unavailable: bool = False

    def paths(self) -> list[Path]:
        return [p for p in (self.json, self.csv, self.md, self.plot) if p is not None]

    def flags(self) -> dict[str, Path]:
        named = {"--json": self.json, "--csv": self.csv, "--md": self.md, "--plot": self.plot}
        return {flag: path for flag, path in named.items() if path is not None}

    def check(self) -> None:
        """Before any measuring: an existing output without --force is refused up front."""
        for flag, path in self.flags().items():
            check_output_file(path, self.force, self.inputs, flag)
        if len(set(map(resolved, self.paths()))) != len(self.paths()):
            raise UsageError("two of --json/--csv/--md/--plot name the same file")
        if self.plot is not None:
            pyplot()


def select_runtimes(names: tuple[str, ...], registry: dict[str, Runtime]) -> list[Runtime]:
    if names == ("auto",):
        return list(registry.values())
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise UsageError(f"unknown runtime {unknown[0]!r}; choose from {', '.join(registry)} or auto")
    return [registry[n] for n in names]


def bench(paths: list[Path], config: BenchConfig, registry: dict[str, Runtime] | None = None,
          clock: Clock = time.perf_counter_ns, log: Callable[[str], None] = print) -> BenchReport:
    registry = registry or REGISTRY
    runtimes = select_runtimes(config.runtimes, registry)
    artifacts, stored_spec, notes = collect(paths)
    spec, spec_source = resolve_spec(artifacts, stored_spec, config.normalize)
    context = compress_context(paths)
    data, data_source = bench_data(config.data, context)
    val = load_validation(data, spec)
    task = task_for(spec)
    score = task.bench_label
    for note in notes:
        log(f"note: {note}")
    log(f"input {spec.height}x{spec.width}x{spec.channels}, normalize {spec.normalize} (from {spec_source}); "
        f"{score} on {len(val)} validation images from {data.source} ({data_source})"
        + task.bench_note)
    if data.is_synthetic and context.data_origin in (None, "none"):
        log(f"warning: {score} is on built-in synthetic data. Real data (--data DIR) gives real numbers.")
    rows = plan(artifacts, runtimes)
    if not rows:
        raise UsageError("none of the chosen runtimes runs these artifacts' formats")
    availability = run_rows(rows, val, config, clock, log)
    # Through the reader every consumer uses: a result that would not read back is never written.
    return BenchReport.from_dict({
        "schema": SCHEMA,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(config.effective_threads),
        "config": config.to_dict(),
        "data": data.source,
        "images": len(val),
        "dice_floor": context.dice_floor,
        **task.bench_fields(context.floors),
        "spec": spec.to_dict(),
        "runtimes": {name: {"device": registry[name].device, "available": ok, "detail": detail}
                     for name, (ok, detail) in availability.items()},
        "rows": with_ratios([row.to_dict(config.cv_warn) | {"deployable": context.deployable.get(row.artifact.name)}
                             for row in rows]),
    }, "bench result")


def bench_data(given: DataConfig | None, context: CompressContext) -> tuple[DataConfig, str]:
    """--data if given, else the data compress measured on (so the Dice matches report.json),
    else the built-in synthetic data."""
    if given is not None:
        return given, "--data"
    if context.data is not None:
        return context.data, "the compress report's data"
    return DataConfig(), "no --data and no compress report"


def with_ratios(rows: list[dict]) -> list[dict]:
    """Speed-up (reference p50 / row p50) and size ratio (row bytes / reference bytes) against
    each runtime's reference row, the same one the CI gate divides by."""
    from .gate import reference_rows

    refs = reference_rows(rows, None)
    for row in rows:
        ref = refs.get(row["runtime"])
        ok = ref is not None and row["status"] == "ok"
        row["reference"] = ref["artifact"] if ok else None
        row["speedup"] = ref["p50_ms"] / row["p50_ms"] if ok else None
        row["size_ratio"] = row["bytes"] / ref["bytes"] if ok else None
    return rows


def write_outputs(report: BenchReport, outputs: Outputs, with_machine: bool = False) -> list[Path]:
    writers = ((outputs.json, lambda: render_json(report)), (outputs.csv, lambda: render_csv(report)),
               (outputs.md, lambda: render_markdown(report, with_machine, outputs.show_unavailable)),
               (outputs.plot, lambda: render_plot(report, with_machine)))
    return [write_file_atomic(path, render(), outputs.force) for path, render in writers if path is not None]
