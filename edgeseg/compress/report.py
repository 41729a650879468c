"""compress's report rendered: report.json, report.md and a terminal table."""
from __future__ import annotations

import json
from pathlib import Path

from ..artifacts.compress_records import Finetune, Scores
from ..artifacts.compress_report import ArtifactRecord, CompressReport
from .explain import explain_lines
from ..instances.held_out import held_out_lines
from ..scoring.budget import METRIC_LABELS
from ..scoring.task import task_named
from .verdict import format_mb, verdict_lines

COLUMNS = ("path", "format", "precision", "sparsity", "flops", "bytes", "gzip_bytes", "dice", "iou",
           "max_abs_diff", "deployable", "reason")


def _cell(key: str, value) -> str:
    if value is None:
        return "-"
    if key in ("dice", "iou", "pq", "f1", "agreement_pq"):
        return f"{value:.4f}"
    if key == "max_abs_diff":
        return f"{value:.3g}"
    if key == "sparsity":
        return f"{value:.3f}"
    if key == "flops":
        return f"{value / 1e9:.3g} G"
    if key in ("bytes", "gzip_bytes"):
        return format_mb(value)  # the unit bench uses too
    if key == "deployable":
        return "yes" if value else "NO"
    return str(value)


def _with_task_columns(report: CompressReport, columns: tuple) -> tuple:
    """The task's own columns after IoU (instance models: PQ, F1@0.5 and PQ against the float
    model's instances beside Dice, which does not decide)."""
    extra = task_named(report.task).table_columns
    if not extra:
        return columns
    at = columns.index("iou") + 1
    return (*columns[:at], *extra, *columns[at:])


def _field(artifact: ArtifactRecord, key: str):
    return getattr(artifact, key) if hasattr(artifact, key) else artifact.extra.get(key)


def table(report: CompressReport, columns=COLUMNS) -> list[list[str]]:
    columns = _with_task_columns(report, columns)
    return [list(columns)] + [[_cell(c, _field(a, c)) for c in columns] for a in report.artifacts]


def _per_class(values: list[float]) -> str:
    return ", ".join(f"{d:.4f}" for d in values)


def render_terminal(report: CompressReport) -> str:
    rows = table(report, COLUMNS[:-1])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += [f"{a.path}: Dice per class {_per_class(a.dice_per_class)}" for a in report.artifacts if a.dice_per_class]
    lines += _held_out_lines(report)  # which PQ decided a re-tuned artifact
    # Rejected artifacts and why are listed once, in the verdict (verdict.py).
    return "\n".join(lines)


def _held_out_lines(report: CompressReport) -> list[str]:
    # instances.held_out reads report.json's form (its own records are not typed yet)
    return held_out_lines(report.to_dict())


def _finetune_line(source: str, tuned: Finetune) -> str:
    best = ("no evaluation kept" if tuned.best_dice is None else
            f"best validation {METRIC_LABELS[tuned.metric]} {tuned.best_dice:.4f} at step {tuned.best_step}")
    return (f"Fine-tuning ({source}): {tuned.steps} steps in {tuned.seconds:.0f} s, {best}; "
            f"stopped: {tuned.stopped_because}.")


def _search_lines(search: dict) -> list[str]:
    """Older reports' channel-ratio bisection (--prune auto before the Optuna study)."""
    out = [f"Channel-ratio search (--prune auto) on {search['target']}, {search['threads']} threads, "
           f"{search['seconds']:.0f} s; plain int8 p50 {search['int8_p50_ms']} ms; winner "
           f"{search['winner']}" + (f" ({search['speedup_vs_int8']}x faster)" if search["winner"] else "") + ".",
           "", "| ratio | GFLOPs | parameters | p50 ms | int8 Dice | deployable |", "|---|---|---|---|---|---|"]
    out += [f"| {c['ratio']} | {c['gflops']} | {c['parameters']:,} | {c['p50_ms']} | {c['dice']:.4f} | "
            f"{'yes' if c['deployable'] else 'no'} |" for c in search["candidates"]]
    return out + [""]


def render_markdown(report: CompressReport) -> str:
    rows = table(report)
    base = report.baseline
    out = [f"# edgeseg compress report: {report.model}", "",
           f"Baseline (float Keras): Dice {base.dice:.4f}, IoU {base.iou:.4f} on {base.images} "
           f"validation images from `{report.data}`. " + task_named(report.task).budget_text(report),
           ""]
    out += task_named(report.task).report_lines(report)
    p = report.pruning
    if p:
        out += [f"Pruning: target sparsity {p.target}, measured {p.sparsity_model:.4f} in the stripped "
                f"model; pruned Keras Dice {p.dice:.4f}{_pq_text(p)}.", ""]
    c = report.channels
    if c:
        out += [f"Channel pruning: {c.ratio:.0%} of the filters removed; {c.flops / 1e9:.3g} GFLOPs "
                f"({c.flops_ratio:.2f}x of {base.flops / 1e9:.3g}), {c.parameters:,} parameters; "
                f"channel-pruned Keras Dice {c.dice:.4f}{_pq_text(c)}.", ""]
    out += [line for source, section in (("pruning", p), ("channels", c)) if section and section.finetune
            for line in (_finetune_line(source, section.finetune), "")]
    if report.search:
        out += _search_lines(report.search)
    if report.study:
        from ..search.report import study_markdown

        out += study_markdown(report.study)
    if report.finetune_skipped:
        out += [f"Pruning skipped: {report.finetune_skipped}.", ""]
    out += ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    if base.dice_per_class is not None:
        out += ["", "Dice per foreground class (class 1, 2, ...):", "", f"- baseline: {_per_class(base.dice_per_class)}"]
        out += [f"- {a.path}: {_per_class(a.dice_per_class)}" for a in report.artifacts if a.dice_per_class]
    held_out = _held_out_lines(report)
    if held_out:
        out += ["", "Decoding tuned on the validation images, scored on images it was not tuned on:", ""]
        out += [f"- {line}" for line in held_out]
    out += explain_lines(report)
    if report.recommended is not None:
        out += ["", "```", *verdict_lines(report, "<this folder>"), "```"]
    out += ["", "Step times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in report.timings.items()), ""]
    return "\n".join(out)


def _pq_text(section: Scores) -> str:
    """A pruned instance source's PQ and F1 beside its Dice (nothing for semantic sources)."""
    return f", PQ {section.pq:.4f}, F1@0.5 {section.f1:.4f}" if section.pq is not None else ""


def write_reports(report: CompressReport, out_dir: Path) -> None:
    (out_dir / "report.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    (out_dir / "report.md").write_text(render_markdown(report))
