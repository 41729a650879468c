"""compress --edgetpu: check the int8 artifact against the Edge TPU's operations, and compile
it with edgetpu_compiler when that is installed. The step only gathers facts (the check, the
compiled file, its verification on an Edge TPU or why there was none); whether the compiled
model may ship is the Budget's to say, like every other artifact's."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..artifacts.edgetpu import check, render
from ..export.edgetpu import compile_model
from ..errors import EdgesegError


@dataclass
class EdgeTpuFacts:
    summary: dict  # report.json's edgetpu section
    compiled: Path | None = None
    verified: object | None = None  # the compiled model's verification on an Edge TPU here
    unverified: str | None = None  # why it was not compiled or not verified


def edgetpu_step(int8_path: Path, runtime_version: int, verify: Callable[[Path], object],
                 log: Callable[[str], None]) -> EdgeTpuFacts:
    report = check(int8_path, runtime_version)
    for line in render(report).splitlines():
        log("      " + line)
    summary = {"checked": int8_path.name, "runtime_version": runtime_version, "ready": report.ready,
               "problems": report.problems,
               "cpu_ops": [{"index": v.index, "op": v.op, "reason": v.reason} for v in report.ops if not v.on_tpu]}
    try:
        compiled, compiler_log = compile_model(int8_path, int8_path.parent, runtime_version)
    except EdgesegError as exc:
        log(f"      not compiled: {exc}")
        summary["compiled"] = None
        summary["reason"] = str(exc)
        return EdgeTpuFacts(summary, unverified=str(exc))
    summary["compiled"] = compiled.name
    summary["compiler_log"] = compiler_log[-4000:]
    from ..runtimes import REGISTRY

    ok, why = REGISTRY["litert-edgetpu"].is_available()
    if not ok:
        log(f"      {compiled.name}: compiled, not verified: {why}")
        return EdgeTpuFacts(summary, compiled, unverified=why)
    return EdgeTpuFacts(summary, compiled, verify(compiled))
