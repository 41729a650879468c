"""compress's verdict: which artifact to ship per format, what was rejected and why, and the
commands to run next. Pure functions of the report, so bench and bundle can reuse them."""
from __future__ import annotations

import math
from pathlib import Path

from ..scoring.task import task_for

MB = 1e6  # the one size unit of compress and bench tables


def format_mb(size: int) -> str:
    return f"{size / MB:.2f} MB"


def float_reference(rows: list[dict], fmt: str) -> dict | None:
    """The float32 artifact of the unpruned model in this format: what ratios are against."""
    return next((r for r in rows if r["format"] == fmt and r["precision"] == "float32" and not r.get("reference")),
                None)


# Fastest precision first on edge CPUs and accelerators (int8 kernels), float32 last.
PRECISION_ORDER = ("int8", "int8+float", "int16x8", "int8-weights", "float16", "float32")


def _rank(row: dict) -> tuple:
    # The fastest precision; then the least arithmetic (channel pruning), then the smallest file
    # (sizes within 1% tie: a few bytes of metadata must not decide), then the one gzip shrinks
    # most (magnitude pruning).
    tier = PRECISION_ORDER.index(row["precision"]) if row["precision"] in PRECISION_ORDER else len(PRECISION_ORDER)
    return tier, row.get("flops") or 0, round(math.log(max(row["bytes"], 1), 1.01)), row.get("gzip_bytes") or 0


def recommend(report: dict) -> dict[str, dict]:
    """{format: the fastest and smallest deployable artifact (see _rank), with Dice, size and
    ratios against float}."""
    rows = report["artifacts"]
    chosen: dict[str, dict] = {}
    for fmt in dict.fromkeys(r["format"] for r in rows):
        deployable = [r for r in rows if r["format"] == fmt and r["deployable"]]
        if not deployable:
            continue
        best = min(deployable, key=_rank)
        reference = float_reference(rows, fmt)
        chosen[fmt] = {
            "path": best["path"], "precision": best["precision"], "dice": best["dice"], "bytes": best["bytes"],
            "mask_agreement": best.get("mask_agreement"), "judged_by": _judged_by(report),
            "baseline_dice": report["baseline"]["dice"],
            "size_ratio": best["bytes"] / reference["bytes"] if reference else None,
            "flops_ratio": (best["flops"] / reference["flops"]
                            if reference and best.get("flops") and reference.get("flops") else None),
            "reference": reference["path"] if reference else None,
        }
        chosen[fmt].update(task_for(report).recommended_fields(best, report["baseline"]))
    return chosen


def _judged_by(report: dict) -> str:
    if report.get("data_origin") == "none":
        return "agreement"
    return task_for(report).metric


def preferred(recommended: dict[str, dict]) -> dict | None:
    """The one artifact `bundle` takes by default: TFLite first (the edge runtime), then ONNX."""
    for fmt in ("tflite", "onnx", *recommended):
        if fmt in recommended:
            return recommended[fmt]
    return None


def _ship_line(fmt: str, pick: dict) -> str:
    if pick.get("judged_by") == "agreement":  # Dice on stand-in images would mean nothing
        quality = f"mask agreement with the float model {pick['mask_agreement']:.4f}"
    elif pick.get("judged_by") == "pq" and pick.get("decided_by") == "pq_held_out":  # what decided comes first
        quality = (f"held-out PQ {pick['pq_held_out']:.4f} (float {pick['baseline_pq']:.4f}; in-sample "
                   f"{pick['pq']:.4f}), held-out F1@0.5 {pick['f1_held_out']:.4f} (float {pick['baseline_f1']:.4f})")
    elif pick.get("judged_by") == "pq":
        quality = (f"PQ {pick['pq']:.4f} (float {pick['baseline_pq']:.4f}), F1@0.5 {pick['f1']:.4f} "
                   f"(float {pick['baseline_f1']:.4f})")
    else:
        quality = f"Dice {pick['dice']:.4f} (float {pick['baseline_dice']:.4f})"
    text = f"  ship {fmt + ':':8}{pick['path']}  {quality}, {format_mb(pick['bytes'])}"
    if pick["size_ratio"] is not None:
        text += f", {pick['size_ratio']:.2f}x the size of {pick['reference']}"
    if pick["flops_ratio"] is not None and pick["flops_ratio"] < 0.99:
        text += f", {pick['flops_ratio']:.2f}x its FLOPs"
    return text


def verdict_lines(report: dict, out: Path | str) -> list[str]:
    recommended = report.get("recommended") or recommend(report)
    lines = ["verdict:"]
    lines += [_ship_line(fmt, pick) for fmt, pick in recommended.items()]
    if not recommended:
        lines.append("  nothing to ship: no artifact is deployable")
    sanity = report.get("sanity") or {}
    if sanity and not sanity.get("ok", True):
        lines.append(f"  {sanity['message']}")
    rejected = [a for a in report["artifacts"] if not a["deployable"]]
    if sanity and not sanity.get("ok", True):
        lines.append(f"  rejected all {len(rejected)} artifacts: the float model they were made from failed")
    else:
        lines += [f"  rejected {a['path']}: {a['reason']}" for a in rejected]
    if report.get("data_origin") == "none":
        lines.append(f"  {report['data_summary']}")
    lines += [f"  {line}" for line in report.get("skipped") or []]
    search = report.get("search") or report.get("study")
    if search and search.get("winner") is None:
        tried = len(search.get("candidates", [])) + len(search.get("pruned", []))
        lines.append(f"  --prune auto: none of the {tried} channel-pruned candidates met "
                     "the budget, so only the unpruned model's artifacts were made (see report.md)")
    if report.get("finetune_skipped"):
        lines.append(f"  pruning skipped: {report['finetune_skipped']}")
    lines += ["next:", f"  edgeseg bench {out}      # latency, size and Dice on every runtime here"]
    if recommended:
        lines.append(f"  edgeseg bundle {out}     # a deploy zip of {preferred(recommended)['path']}")
    return lines


def render_verdict(report: dict, out: Path | str) -> str:
    return "\n".join(verdict_lines(report, out))
