"""`edgeseg bench --profile`: where each model's time goes, op by op.

Each runtime that can profile has a `profile(path, threads, batch)` hook (LiteRT: each op
timed alone, ONNX Runtime: its own profiler); this module adds the op's MACs (from the shapes
the runtime reports), effective GMAC/s, per-op-type totals, and the tables. Rows of runtimes
without a hook say so instead of carrying numbers.
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Callable

import numpy as np

from ..artifacts import typed
from ..artifacts.bench_records import ProfileRecord
from ..errors import describe
from ..runtimes import REGISTRY, Runtime

# op -> (which shape gives the positions: "out" the output, "in" input 0; weight input index;
#        the weight dimensions each position multiplies by). A conv's MACs are the output
# elements times one output's receptive field; a transposed conv's are the input elements
# times the kernel it scatters.
_MAC_RULES = {
    "CONV_2D": ("out", 1, slice(1, None)),  # filter [O, kh, kw, I]
    "DEPTHWISE_CONV_2D": ("out", 1, slice(1, 3)),  # filter [1, kh, kw, O]
    "TRANSPOSE_CONV": ("in2", 1, slice(0, 3)),  # inputs (output_shape, filter [O, kh, kw, I], x)
    "FULLY_CONNECTED": ("out", 1, slice(1, None)),  # filter [O, I]
    "Conv": ("out", 1, slice(1, None)),  # W [M, C/g, kh, kw]
    "FusedConv": ("out", 1, slice(1, None)),
    "NhwcFusedConv": ("out", 1, slice(1, None)),
    "QLinearConv": ("out", 3, slice(1, None)),  # (x, x_scale, x_zp, w, ...)
    "ConvTranspose": ("in0", 1, slice(1, None)),  # W [C, M/g, kh, kw]
    "Gemm": ("out", 1, slice(0, 1)),  # B [K, N] (transB=0, as tf2onnx writes it)
    "MatMul": ("out", 1, slice(0, 1)),
}


def op_macs(op: str, inputs: list[list[int]], outputs: list[list[int]], constants: dict | None = None) -> int | None:
    """Multiply-accumulates of one op from its shapes; None for ops that do no MACs.
    `constants` ({input position: dims}) stands in where the runtime left an input out."""
    rule = _MAC_RULES.get(op)
    if rule is None:
        return None
    positions, weight, dims = rule
    try:
        base = outputs[0] if positions == "out" else inputs[int(positions[2:])]
        weights = (constants or {}).get(str(weight)) or inputs[weight]
        return int(math.prod(base) * math.prod(weights[dims]))
    except (IndexError, TypeError, ValueError):
        return None  # a shape the runtime did not report


def with_macs(profile: dict) -> dict:
    """Adds macs and gmac_s to every op row, and per-op-type totals, sorted by time."""
    totals: dict[str, dict] = defaultdict(lambda: {"count": 0, "ms": 0.0, "macs": 0, "delegated": 0})
    for row in profile["ops"]:
        macs = op_macs(row["op"], row["inputs"], row["outputs"], row.get("constants"))
        row["macs"] = macs
        row["gmac_s"] = macs / row["ms"] / 1e6 if macs and row["ms"] > 0 else None
        total = totals[row["op"]]
        total["count"] += 1
        total["ms"] += row["ms"]
        total["macs"] += macs or 0
        total["delegated"] += bool(row.get("delegated"))
    ops_ms = sum(r["ms"] for r in profile["ops"])
    for total in totals.values():
        total["gmac_s"] = total["macs"] / total["ms"] / 1e6 if total["macs"] and total["ms"] > 0 else None
        total["share"] = total["ms"] / ops_ms if ops_ms else None
    all_macs = sum(r["macs"] or 0 for r in profile["ops"])
    whole = profile.get("whole_cpu_ms") or profile.get("whole_ms")
    return profile | {"ops_ms": ops_ms, "macs": all_macs, "gmac_s": all_macs / whole / 1e6 if whole else None,
                      "by_type": dict(sorted(totals.items(), key=lambda kv: -kv[1]["ms"]))}


def profile_row(runtime: Runtime, path: Path, threads: int | None, batch: np.ndarray, runs: int) -> dict:
    hook = getattr(runtime, "profile", None)
    if hook is None:
        return {"available": False, "reason": f"{runtime.name} has no per-op profiler in edgeseg"}
    try:
        return {"available": True, "threads": threads, **with_macs(hook(path, threads, batch, runs=runs))}
    except Exception as exc:  # a foreign artifact can fail anywhere in a runtime; the row says how
        return {"available": False, "reason": f"could not profile: {describe(exc)}"}


def as_record(profile: dict, where: str) -> ProfileRecord:
    """profile_row's dict as its typed record, read as the bench JSON will hold it (tuples as lists)."""
    return typed.from_dict(ProfileRecord, json.loads(json.dumps(profile)), where)


def add_profiles(report, paths: list[Path], runs: int = 20, registry: dict[str, Runtime] | None = None,
                 log: Callable[[str], None] = print):
    """The bench report (a BenchReport) with every ok row profiled at its own thread count: a new
    report, the measured one is left as it was."""
    import dataclasses

    from .artifacts import collect

    registry = registry or REGISTRY
    artifacts = {a.name: a for a in collect(paths)[0]}
    spec = report.spec
    shape = (1, spec["height"], spec["width"], spec["channels"])
    batch = np.random.default_rng(0).random(shape, dtype=np.float32)  # op times do not depend on the values
    rows = []
    for row in report.rows:
        if row.status == "ok" and row.artifact in artifacts:
            log(f"  profiling {row.artifact} on {row.runtime}")
            profile = profile_row(registry[row.runtime], artifacts[row.artifact].path, row.threads, batch, runs)
            row = dataclasses.replace(row, profile=as_record(profile, f"{row.artifact} on {row.runtime}: profile"))
        rows.append(row)
    return dataclasses.replace(report, rows=rows)


def _num(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _shape(shapes: list[list[int]]) -> str:
    """The first tensor shape (a QLinear op's scales and zero points come first and are scalars)."""
    first = next((s for s in shapes if s), None)
    return "x".join(map(str, first)) if first else "-"


def _where(row: dict) -> str:
    return {True: "yes", False: "NO"}.get(row.get("delegated"), row.get("backend") or "-")


def _table(header: list[str], lines: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header] + lines) for i in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header] + lines]


def render_profile(report, top: int = 12) -> str:
    """Per profiled row of a BenchReport: the slowest ops, then time per op type."""
    out = []
    for row in report.rows:
        profile = row.profile.to_dict() if row.profile else None
        if not profile:
            continue
        threads = f"{row.threads} thread(s)" if row.threads else "default threads"
        title = f"{row.artifact} on {row.runtime} ({threads})"
        if not profile.get("available"):
            out += [f"profile: {title}: unavailable: {profile.get('reason')}", ""]
            continue
        partitions = "" if profile.get("partitions") is None else f", {profile['partitions']} delegate partition(s)"
        cpu = profile.get("whole_cpu_ms")
        whole = f"{_num(profile['whole_ms'])} ms wall" + (f" ({_num(cpu)} ms CPU)" if cpu is not None else "")
        out.append(f"profile: {title}: whole model {whole}, sum of ops "
                   f"{_num(profile['ops_ms'])} ms, {profile['macs'] / 1e6:.1f} MMAC, "
                   f"{_num(profile['gmac_s'], 1)} GMAC/s overall{partitions}")
        out.append(f"  method: {profile['method']}")
        slowest = sorted(profile["ops"], key=lambda r: -r["ms"])[:top]
        out += ["  " + line for line in _table(
            ["#", "op", "in", "out", "MMAC", "ms", "GMAC/s", "delegated"],
            [[str(r["index"]), r["op"], _shape(r["inputs"]), _shape(r["outputs"]),
              _num(r["macs"] / 1e6 if r["macs"] else None, 1), f"{r['ms']:.3f}", _num(r["gmac_s"], 1), _where(r)]
             for r in slowest])]
        out += ["  " + line for line in _table(
            ["op type", "count", "ms", "share", "MMAC", "GMAC/s", "delegated"],
            [[op, str(t["count"]), f"{t['ms']:.3f}", f"{t['share']:.1%}" if t["share"] is not None else "-",
              _num(t["macs"] / 1e6 if t["macs"] else None, 1), _num(t["gmac_s"], 1),
              f"{t['delegated']}/{t['count']}" if profile.get("partitions") is not None else "-"]
             for op, t in profile["by_type"].items()])]
        out.append("")
    return "\n".join(out)
