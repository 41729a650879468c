"""`edgeseg bench` as a function: collect artifacts, plan rows, measure, report, gate."""
from __future__ import annotations

import datetime
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..config import BenchConfig
from ..data.dataset import load_splits
from ..errors import UsageError
from ..outputs import check_output_file, write_file_atomic
from ..runtimes import REGISTRY, Runtime
from ..safety import resolved
from .artifacts import collect, resolve_spec
from .harness import Clock, plan, run_rows
from .machine import machine_info
from .report import SCHEMA, pyplot, render_csv, render_json, render_markdown, render_plot


@dataclass(frozen=True)
class Outputs:
    json: Path | None = None
    csv: Path | None = None
    md: Path | None = None
    plot: Path | None = None
    force: bool = False
    inputs: tuple = ()  # artifacts, data, baseline: an output that is or lies in one is refused

    def paths(self) -> list[Path]:
        return [p for p in (self.json, self.csv, self.md, self.plot) if p is not None]

    def check(self) -> None:
        """Before any measuring: an existing output without --force is refused up front."""
        for path in self.paths():
            check_output_file(path, self.force, self.inputs)
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
          clock: Clock = time.perf_counter_ns, log: Callable[[str], None] = print) -> dict:
    registry = registry or REGISTRY
    runtimes = select_runtimes(config.runtimes, registry)
    artifacts, stored_spec, notes = collect(paths)
    spec, spec_source = resolve_spec(artifacts, stored_spec, config.normalize)
    _, val = load_splits(config.data, spec)
    for note in notes:
        log(f"note: {note}")
    log(f"input {spec.height}x{spec.width}x{spec.channels}, normalize {spec.normalize} (from {spec_source}); "
        f"Dice on {len(val)} validation images from {config.data.source}")
    if config.data.is_synthetic:
        log("warning: no --data given; Dice is on built-in synthetic data. Real data gives real numbers.")
    rows = plan(artifacts, runtimes)
    if not rows:
        raise UsageError("none of the chosen runtimes runs these artifacts' formats")
    availability = run_rows(rows, val, config, clock, log)
    return {
        "schema": SCHEMA,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(config.effective_threads),
        "config": config.to_dict(),
        "data": config.data.source,
        "images": len(val),
        "spec": spec.to_dict(),
        "runtimes": {name: {"device": registry[name].device, "available": ok, "detail": detail}
                     for name, (ok, detail) in availability.items()},
        "rows": [row.to_dict(config.cv_warn) for row in rows],
    }


def write_outputs(report: dict, outputs: Outputs, with_machine: bool = False) -> list[Path]:
    writers = ((outputs.json, lambda: render_json(report)), (outputs.csv, lambda: render_csv(report)),
               (outputs.md, lambda: render_markdown(report, with_machine)),
               (outputs.plot, lambda: render_plot(report, with_machine)))
    return [write_file_atomic(path, render(), outputs.force) for path, render in writers if path is not None]
