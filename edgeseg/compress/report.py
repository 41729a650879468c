"""compress's report rendered: report.json, report.md and a terminal table."""
from __future__ import annotations

import json
from pathlib import Path

from .budget import METRIC_LABELS
from .explain import explain_lines
from ..instances.held_out import held_out_lines
from .verdict import format_mb, is_instance, verdict_lines

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


# Instance models: PQ, F1@0.5 and PQ against the float model's instances beside Dice (which does not decide).
INSTANCE_COLUMNS = ("pq", "f1", "agreement_pq")


def _with_instance(report: dict, columns: tuple) -> tuple:
    if not is_instance(report):
        return columns
    at = columns.index("iou") + 1
    return (*columns[:at], *INSTANCE_COLUMNS, *columns[at:])


def table(report: dict, columns=COLUMNS) -> list[list[str]]:
    columns = _with_instance(report, columns)
    return [list(columns)] + [[_cell(c, a.get(c)) for c in columns] for a in report["artifacts"]]


def render_terminal(report: dict) -> str:
    rows = table(report, COLUMNS[:-1])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for a in report["artifacts"]:
        if a.get("dice_per_class"):
            lines.append(f"{a['path']}: Dice per class {', '.join(f'{d:.4f}' for d in a['dice_per_class'])}")
    lines += held_out_lines(report)  # which PQ decided a re-tuned artifact
    # Rejected artifacts and why are listed once, in the verdict (verdict.py).
    return "\n".join(lines)


def render_markdown(report: dict) -> str:
    rows = table(report)
    base = report["baseline"]
    out = [f"# edgeseg compress report: {report['model']}", "",
           f"Baseline (float Keras): Dice {base['dice']:.4f}, IoU {base['iou']:.4f} on {base['images']} "
           f"validation images from `{report['data']}`. " + _budget_text(report),
           ""]
    if report.get("instance"):
        out += [instance_summary(report), ""]
    if report.get("pruning"):
        p = report["pruning"]
        out += [f"Pruning: target sparsity {p['target']}, measured {p['sparsity_model']:.4f} in the stripped "
                f"model; pruned Keras Dice {p['dice']:.4f}{_pq_text(p)}.", ""]
    if report.get("channels"):
        c = report["channels"]
        out += [f"Channel pruning: {c['ratio']:.0%} of the filters removed; {c['flops'] / 1e9:.3g} GFLOPs "
                f"({c['flops_ratio']:.2f}x of {base['flops'] / 1e9:.3g}), {c['parameters']:,} parameters; "
                f"channel-pruned Keras Dice {c['dice']:.4f}{_pq_text(c)}.", ""]
    for source in ("pruning", "channels"):
        tuned = (report.get(source) or {}).get("finetune")
        if tuned:
            best = ("no evaluation kept" if tuned["best_dice"] is None else
                    f"best validation {METRIC_LABELS[tuned.get('metric', 'dice')]} {tuned['best_dice']:.4f} at step "
                    f"{tuned['best_step']}")
            out += [f"Fine-tuning ({source}): {tuned['steps']} steps in {tuned['seconds']:.0f} s, {best}; "
                    f"stopped: {tuned['stopped_because']}.", ""]
    search = report.get("search")
    if search:
        out += [f"Channel-ratio search (--prune auto) on {search['target']}, {search['threads']} threads, "
                f"{search['seconds']:.0f} s; plain int8 p50 {search['int8_p50_ms']} ms; winner "
                f"{search['winner']}" + (f" ({search['speedup_vs_int8']}x faster)" if search["winner"] else "") + ".",
                "", "| ratio | GFLOPs | parameters | p50 ms | int8 Dice | deployable |", "|---|---|---|---|---|---|"]
        out += [f"| {c['ratio']} | {c['gflops']} | {c['parameters']:,} | {c['p50_ms']} | {c['dice']:.4f} | "
                f"{'yes' if c['deployable'] else 'no'} |" for c in search["candidates"]]
        out += [""]
    if report.get("study"):
        from ..search.report import study_markdown

        out += study_markdown(report["study"])
    if report.get("finetune_skipped"):
        out += [f"Pruning skipped: {report['finetune_skipped']}.", ""]
    out += ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    if "dice_per_class" in base:
        out += ["", "Dice per foreground class (class 1, 2, ...):", "",
                f"- baseline: {', '.join(f'{d:.4f}' for d in base['dice_per_class'])}"]
        out += [f"- {a['path']}: {', '.join(f'{d:.4f}' for d in a['dice_per_class'])}"
                for a in report["artifacts"] if a.get("dice_per_class")]
    held_out = held_out_lines(report)
    if held_out:
        out += ["", "Decoding tuned on the validation images, scored on images it was not tuned on:", ""]
        out += [f"- {line}" for line in held_out]
    out += explain_lines(report)
    if "recommended" in report:
        out += ["", "```", *verdict_lines(report, "<this folder>"), "```"]
    out += ["", "Step times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in report["timings"].items()), ""]
    return "\n".join(out)


def _pq_text(section: dict) -> str:
    """A pruned instance source's PQ and F1 beside its Dice (nothing for semantic sources)."""
    return f", PQ {section['pq']:.4f}, F1@0.5 {section['f1']:.4f}" if "pq" in section else ""


def _budget_text(report: dict) -> str:
    if report.get("instance"):
        return "Dice does not decide for this instance model (see below)."
    return f"Budget: Dice drop <= {report['config']['max_dice_drop']}."


def instance_summary(report: dict) -> str:
    """report.md's lines on an instance model: the float PQ/F1, the budget on PQ, the decoding."""
    base, info = report["baseline"], report["instance"]
    tuned = info["decode_tuning"]["tuned_by"]
    return (f"Instance model, judged by PQ (Dice does not decide: touching objects can merge at a high Dice). "
            f"Float: PQ {base['pq']:.4f} (SQ {base['sq']:.4f}, RQ {base['rq']:.4f}), F1@0.5 {base['f1']:.4f}, "
            f"AJI {base['aji']:.4f}, count error {base['count_mae']:.2f}/image. Budget: PQ drop <= "
            f"{info['max_pq_drop']}. Decoding settings {info['decode']} (tuned by {tuned}); each artifact stores the "
            f"settings it was verified with. Remedies, cheapest first: {', '.join(info['ladder'])}.")


def write_reports(report: dict, out_dir: Path) -> None:
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / "report.md").write_text(render_markdown(report))

