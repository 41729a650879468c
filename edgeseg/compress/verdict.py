"""compress's verdict: which artifact to ship per format, what was rejected and why, and the
commands to run next. Pure functions of the typed report, so bench and bundle can reuse them."""
from __future__ import annotations

import math
from pathlib import Path

from ..artifacts.compress_records import Baseline, Recommendation
from ..artifacts.compress_report import ArtifactRecord, CompressReport
from ..scoring.task import task_named

MB = 1e6  # the one size unit of compress and bench tables


def format_mb(size: int) -> str:
    return f"{size / MB:.2f} MB"


def float_reference(rows: list[ArtifactRecord], fmt: str) -> ArtifactRecord | None:
    """The float32 artifact of the unpruned model in this format: what ratios are against."""
    return next((r for r in rows if r.format == fmt and r.precision == "float32" and not r.reference),
                None)


# Fastest precision first on edge CPUs and accelerators (int8 kernels), float32 last.
PRECISION_ORDER = ("int8", "int8+float", "int16x8", "int8-weights", "float16", "float32")


def _rank(row: ArtifactRecord) -> tuple:
    # Measured speed first: the lowest p50 timed on the target runtime (compress/speed.py), the
    # smaller file breaking a tie; so no artifact slower than another deployable one of its format
    # is ever recommended. Untimed rows (a format with one deployable artifact, a runtime
    # not here, an older report) rank after timed ones by the fastest precision assumed, then the
    # least arithmetic (channel pruning), then the smallest file (sizes within 1% tie: a few bytes of
    # metadata must not decide), then the one gzip shrinks most (magnitude pruning).
    if row.p50_ms is not None:
        return (0, row.p50_ms, row.bytes)
    tier = PRECISION_ORDER.index(row.precision) if row.precision in PRECISION_ORDER else len(PRECISION_ORDER)
    return 1, tier, row.flops or 0, round(math.log(max(row.bytes, 1), 1.01)), row.gzip_bytes or 0


def judged_by(data_origin: str | None, task: str) -> str:
    """What decides the verdicts: agreement with the float model when there are no real masks,
    else the task's metric (PQ for instance models, Dice for the others)."""
    if data_origin == "none":
        return "agreement"
    return task_named(task).metric


def recommend(rows: list[ArtifactRecord], baseline: Baseline, task: str,
              data_origin: str | None) -> dict[str, Recommendation]:
    """{format: the fastest deployable artifact as measured (see _rank; size breaks ties), with its
    p50, Dice, size and ratios against float}."""
    judge = judged_by(data_origin, task)
    chosen: dict[str, Recommendation] = {}
    for fmt in dict.fromkeys(r.format for r in rows):
        deployable = [r for r in rows if r.format == fmt and r.deployable]
        if not deployable:
            continue
        best = min(deployable, key=_rank)
        reference = float_reference(rows, fmt)
        extra = task_named(task).recommended_fields(best, baseline)
        chosen[fmt] = Recommendation(
            path=best.path, precision=best.precision, dice=best.dice, bytes=best.bytes,
            mask_agreement=best.mask_agreement, judged_by=judge, baseline_dice=baseline.dice,
            size_ratio=best.bytes / reference.bytes if reference else None,
            flops_ratio=best.flops / reference.flops if reference and best.flops and reference.flops else None,
            reference=reference.path if reference else None, p50_ms=best.p50_ms, timed_on=best.timed_on, **extra)
    return chosen


def preferred(recommended: dict[str, Recommendation]) -> Recommendation | None:
    """The one artifact `bundle` takes by default: TFLite first (the edge runtime), then ONNX."""
    for fmt in ("tflite", "onnx", *recommended):
        if fmt in recommended:
            return recommended[fmt]
    return None


def _quality(pick: Recommendation) -> str:
    if pick.judged_by == "agreement":  # Dice on stand-in images would mean nothing
        return f"mask agreement with the float model {pick.mask_agreement:.4f}"
    if pick.judged_by == "pq" and pick.decided_by == "pq_held_out":  # what decided comes first
        return (f"held-out PQ {pick.pq_held_out:.4f} (float {pick.baseline_pq:.4f}; in-sample "
                f"{pick.pq:.4f}), held-out F1@0.5 {pick.f1_held_out:.4f} (float {pick.baseline_f1:.4f})")
    if pick.judged_by == "pq":
        return f"PQ {pick.pq:.4f} (float {pick.baseline_pq:.4f}), F1@0.5 {pick.f1:.4f} (float {pick.baseline_f1:.4f})"
    return f"Dice {pick.dice:.4f} (float {pick.baseline_dice:.4f})"


def _ship_line(fmt: str, pick: Recommendation) -> str:
    text = f"  ship {fmt + ':':8}{pick.path}  {_quality(pick)}, {format_mb(pick.bytes)}"
    if pick.size_ratio is not None:
        text += f", {pick.size_ratio:.2f}x the size of {pick.reference}"
    if pick.flops_ratio is not None and pick.flops_ratio < 0.99:
        text += f", {pick.flops_ratio:.2f}x its FLOPs"
    if pick.p50_ms is not None:
        text += f", p50 {pick.p50_ms:.3f} ms on {pick.timed_on} (the fastest deployable {fmt} here, timed together)"
    return text


def _scale_lines(report: CompressReport, recommended: dict) -> list[str]:
    """What a resolution winner of --prune auto means for the user: the same input and output, the
    network inside at a lower resolution."""
    row = report.study.winner_row if report.study else None
    if row is None or not row.scale or row.scale >= 1.0:
        return []
    shipped = any(pick.path.startswith("model_channels") for pick in recommended.values())
    what = (f"the shipped channels artifacts run the network at input scale {row.scale:g} (resized inside the "
            "file: input and output keep the full resolution)") if shipped else (
        f"its winner ran the network at input scale {row.scale:g}; none of its artifacts ships")
    return [f"  --prune auto: {what}; study: int8 Dice {row.dice:.4f} at full resolution, p50 {row.latency_ms} ms "
            f"against plain int8's {report.study.int8_p50_ms} ms"]


def verdict_lines(report: CompressReport, out: Path | str) -> list[str]:
    recommended = report.recommended
    if recommended is None:  # a schema-1 report recorded none
        recommended = recommend(report.artifacts, report.baseline, report.task, report.data_origin)
    lines = ["verdict:"]
    lines += [_ship_line(fmt, pick) for fmt, pick in recommended.items()]
    if not recommended:
        lines.append("  nothing to ship: no artifact is deployable")
    failed = report.sanity is not None and not report.sanity.ok
    if failed:
        lines.append(f"  {report.sanity.message}")
    rejected = [a for a in report.artifacts if not a.deployable]
    if failed:
        lines.append(f"  rejected all {len(rejected)} artifacts: the float model they were made from failed")
    else:
        lines += [f"  rejected {a.path}: {a.reason}" for a in rejected]
    if report.data_origin == "none":
        lines.append(f"  {report.data_summary}")
    lines += [f"  {line}" for line in report.skipped or []]
    search = report.search or (report.study.to_dict() if report.study else None)
    if search and search.get("winner") is None:
        tried = len(search.get("candidates", [])) + len(search.get("pruned", []))
        lines.append(f"  --prune auto: none of the {tried} channel-pruned candidates met "
                     "the budget, so only the unpruned model's artifacts were made (see report.md)")
    lines += _scale_lines(report, recommended)
    if report.finetune_skipped:
        lines.append(f"  pruning skipped: {report.finetune_skipped}")
    lines += ["next:", f"  edgeseg bench {out}      # latency, size and Dice on every runtime here"]
    if recommended:
        lines.append(f"  edgeseg bundle {out}     # a deploy zip of {preferred(recommended).path}")
    return lines


def render_verdict(report: CompressReport, out: Path | str) -> str:
    return "\n".join(verdict_lines(report, out))
