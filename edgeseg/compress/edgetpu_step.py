"""compress --edgetpu: check the int8 artifact against the Edge TPU's operations, and compile
it with edgetpu_compiler when that is installed. A compiled model is called deployable only
after it ran on an Edge TPU here."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..artifacts.edgetpu import check, render
from ..export.edgetpu import compile_model
from ..errors import EdgesegError


def edgetpu_step(int8_path: Path, runtime_version: int, verify: Callable[[Path], object],
                 log: Callable[[str], None]) -> tuple[dict, Path | None, object | None, str]:
    """(summary for report.json, compiled path or None, verification or None, reason)."""
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
        return summary, None, None, str(exc)
    summary["compiled"] = compiled.name
    summary["compiler_log"] = compiler_log[-4000:]
    from ..runtimes import REGISTRY

    ok, why = REGISTRY["litert-edgetpu"].is_available()
    if not ok:
        reason = f"compiled, not verified: {why}"
        log(f"      {compiled.name}: {reason}")
        return summary, compiled, None, reason
    verified = verify(compiled)
    return summary, compiled, verified, ""
