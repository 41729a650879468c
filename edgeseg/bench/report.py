"""Bench output: a terminal table in the style of `yolo benchmark`, JSON (edgeseg.bench/1),
CSV, Markdown and a PNG plot of p50 latency against Dice (PQ for instance models)."""
from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

from ..artifacts import typed
from ..artifacts.bench_report import BenchReport, BenchRow, read_bench_report
from ..errors import UsageError

CSV_COLUMNS = ("machine", "artifact", "format", "precision", "runtime", "device", "threads", "status", "reason",
               "bytes", "gzip_bytes", "load_ms", "runs", "mean_ms", "std_ms", "min_ms", "p50_ms", "p90_ms",
               "p99_ms", "cv", "noisy", "fps", "peak_rss_mb", "model_rss_mb", "dice", "iou", "images",
               "decode_ms", "decode_p90_ms", "decode_share", "pq", "sq", "rq", "f1", "aji", "count_mae")
TABLE = (("artifact", "Artifact"), ("format", "Format"), ("precision", "Precision"), ("runtime", "Runtime"),
         ("status", "Status"), ("deployable", "Deployable"), ("bytes", "Size MB"), ("size_ratio", "Size x"),
         ("dice", "Dice"), ("p50_ms", "p50 ms"), ("p90_ms", "p90 ms"), ("speedup", "Speed-up"), ("cv", "CV"),
         ("fps", "FPS"), ("model_rss_mb", "+RSS MB"))


def _tasks(rows: list[BenchRow]) -> list:
    from ..scoring.task import task_named

    return list({task_named(r.task).name: task_named(r.task) for r in rows}.values())


def has_instances(rows: list[BenchRow]) -> bool:
    """Whether any row's task adds columns (instance rows: PQ, F1 and decode time)."""
    return any(t.row_columns_after for t in _tasks(rows))


def table_columns(rows: list[BenchRow]) -> tuple[tuple[str, str], ...]:
    """TABLE, plus the columns the rows' tasks add (instance rows: PQ and F1 where Dice is,
    decode time after the network's); Dice stays only when a task whose rows carry it shares
    the table."""
    tasks = _tasks(rows)
    if not any(t.row_columns_after for t in tasks):
        return TABLE
    keep_dice = any(t.dice_column for t in tasks)
    out: list[tuple[str, str]] = []
    for key, title in TABLE:
        if key != "dice" or keep_dice:
            out.append((key, title))
        for t in tasks:
            out += t.row_columns_after.get(key, ())
    return tuple(out)


def load_bench(path: Path) -> BenchReport:
    """A bench JSON file through its one validating reader, or a clear error naming it."""
    return read_bench_report(path)


ROW_FIELDS = frozenset(f.name for f in dataclasses.fields(BenchRow)) - {"extra"}


def figure(row: BenchRow, key: str):
    """A row's figure: its typed field, else what the harness added beside them (cv, fps,
    speedup, ...; kept in `extra`)."""
    return getattr(row, key) if key in ROW_FIELDS else row.extra.get(key)


def _cell(key: str, row: BenchRow) -> str:
    value = figure(row, key)
    if value is None:
        return "-"
    if key == "bytes":
        return f"{value / 1e6:.2f}"  # MB, as in compress's report
    if key == "deployable":
        return "yes" if value else "NO"
    if key in ("speedup", "size_ratio"):
        return "ref" if figure(row, "reference") == row.artifact else f"{value:.2f}x"
    if key in ("dice", "iou", "pq", "f1"):
        return f"{value:.4f}"
    if key == "decode_share":
        return f"{value:.1%}"
    if key.endswith("_ms"):
        return f"{value:.2f}"
    if key == "cv":
        return f"{value:.1%}" + (" !" if figure(row, "noisy") else "")
    if key == "fps":
        return f"{value:.1f}"
    return str(value)


def _rows_with_machine(report: BenchReport) -> list[BenchRow]:
    return [r if r.machine else dataclasses.replace(r, machine=report.machine.label) for r in report.rows]


def table_cells(rows: list[BenchRow], with_machine: bool = False) -> list[list[str]]:
    columns = ((("machine", "Machine"),) if with_machine else ()) + table_columns(rows)
    return [[title for _, title in columns]] + [[_cell(k, r) for k, _ in columns] for r in rows]


def _shown(rows: list[BenchRow], show_unavailable: bool) -> list[BenchRow]:
    """Rows of runtimes that are not on this machine go to a footnote unless asked for."""
    return rows if show_unavailable else [r for r in rows if r.status != "unavailable"]


def _footnotes(rows: list[BenchRow]) -> list[str]:
    """Why rows carry no figures, one line per runtime and reason rather than per row."""
    grouped: dict[tuple[str, str, str, str], list[str]] = {}
    for r in rows:
        if r.status != "ok":
            grouped.setdefault((r.machine, r.runtime, r.status, r.reason), []).append(r.artifact)
    several = len({r.machine for r in rows}) > 1
    lines = [(f"[{machine}] " if several else "") + f"{runtime}: {status}: {reason}"
             + (f" ({', '.join(names)})" if status != "unavailable" else "")
             for (machine, runtime, status, reason), names in grouped.items()]
    if any(figure(r, "speedup") is not None for r in rows):
        lines.append("Speed-up and Size x: against each runtime's float32 row (ref); Deployable: compress's verdict")
    if any(r.decode_ms is not None for r in rows):
        lines.append("Decode ms: p50 of decoding each artifact's own outputs with its stored settings on the host "
                     "(numpy), timed after every network run in the same rounds; not part of p50 ms. "
                     "Decode %: Decode ms / p50 ms")
    if any(figure(r, "noisy") for r in rows):
        lines.append("! the coefficient of variation is high: the machine was busy; compare ratios, or rerun")
    return lines


def render_terminal(report: BenchReport, with_machine: bool = False, show_unavailable: bool = False) -> str:
    rows = _rows_with_machine(report)
    cells = table_cells(_shown(rows, show_unavailable), with_machine)
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines + _footnotes(rows))


def render_markdown(report: BenchReport, with_machine: bool = False, show_unavailable: bool = False) -> str:
    rows = _rows_with_machine(report)
    cells = table_cells(_shown(rows, show_unavailable), with_machine)
    machines = report.machines or [report.machine]
    out = ["# edgeseg bench", ""]
    for m in machines:
        out.append(f"- **{m.label}**: {m.os}, {m.arch}, threads {m.threads}; "
                   f"accelerators: {', '.join(m.accelerators) or 'none'}; "
                   + ", ".join(f"{k} {v}" for k, v in m.packages.items()))
    if report.data is not None:
        out.append(f"- data: `{report.data}` ({report.images if report.images is not None else '?'} images); "
                   "latency at batch 1")
    out += ["", "| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(cells[0])]
    out += ["| " + " | ".join(r) + " |" for r in cells[1:]]
    notes = _footnotes(rows)
    return "\n".join(out + ([""] + [f"- {n}" for n in notes] if notes else []) + [""])


def render_csv(report: BenchReport) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(typed.to_dict(r) for r in _rows_with_machine(report))
    return buffer.getvalue()


def render_json(report: BenchReport) -> str:
    return json.dumps(report.to_dict(), indent=2) + "\n"


def pyplot():
    """matplotlib's pyplot on the file-only backend, or the error that says how to get it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'edgeseg[plot]'") from None
    return plt


LABEL_OFFSETS = ((8, 8), (8, -14), (8, 22), (8, -28), (8, 36), (8, -42))


def dice_axis(dices: list[float], floor: float | None) -> tuple[float, float]:
    """Y limits that show the deployable cluster in detail: points far below it (outliers,
    usually undeployable) are pinned to the bottom edge instead of squashing the axis."""
    top = max(dices)
    core = [d for d in dices if d >= (floor - 0.05 if floor is not None else top - 0.1)] or dices
    low = min(core + ([floor] if floor is not None else []))
    margin = max(0.005, 0.1 * (top - low))
    return low - margin, top + margin


def render_plot(report: BenchReport, with_machine: bool = False) -> bytes:
    """PNG: p50 latency (p90 as the whisker) against Dice (PQ for instance models), marker area by
    model size, one labelled point per artifact x runtime (x machine), and the budget's floor."""
    plt = pyplot()
    measured = [r for r in _rows_with_machine(report) if r.status == "ok"]
    key, name = ("pq", "PQ") if has_instances(measured) else ("dice", "Dice")
    rows = [r for r in measured if getattr(r, key) is not None]
    if not rows:
        raise UsageError("--plot: no measured rows to plot")
    fig, ax = plt.subplots(figsize=(10, 6.5), dpi=110)
    biggest = max(r.bytes for r in rows)
    floor = {"dice": report.dice_floor, "pq": report.pq_floor}[key]
    bottom, top = dice_axis([getattr(r, key) for r in rows], floor)
    for i, r in enumerate(rows):
        color = f"C{i % 10}"
        score = getattr(r, key)
        label = f"{r.artifact} @ {r.runtime}" + (f" [{r.machine}]" if with_machine else "")
        outlier = score < bottom
        y = bottom if outlier else score
        ax.errorbar(r.p50_ms, y, xerr=[[0], [max(0.0, (r.p90_ms or r.p50_ms) - r.p50_ms)]], fmt="none",
                    ecolor=color, capsize=3)
        ax.scatter(r.p50_ms, y, s=40 + 600 * r.bytes / biggest, color=color, alpha=0.7,
                   edgecolors="black", marker="v" if outlier else "o", clip_on=False)
        text = label + (f" ({name} {score:.3f}, off scale)" if outlier else "")
        # Neighbouring points (similar latency and Dice) get labels at different heights.
        ax.annotate(text, (r.p50_ms, y), xytext=(8, 10 + 12 * (i % 3)) if outlier else LABEL_OFFSETS[i % len(LABEL_OFFSETS)], textcoords="offset points",
                    fontsize=7, color=color, arrowprops={"arrowstyle": "-", "color": color, "lw": 0.5})
    if floor is not None:
        ax.axhline(floor, color="red", linestyle="--", linewidth=1)
        ax.annotate(f"{name} budget floor {floor:.4f}", (0.01, floor), xycoords=("axes fraction", "data"),
                    xytext=(0, 3), textcoords="offset points", fontsize=8, color="red")
    ax.set_ylim(bottom, top)
    ax.set_xlabel("network latency p50, ms at batch 1 (whisker: p90)" + ("; decoding not included" if key == "pq" else ""))
    ax.set_ylabel(name)
    ax.set_title(f"edgeseg bench: latency vs {name} (marker area ~ model size; v: {name} below the axis)")
    latencies = [r.p50_ms for r in rows]
    if max(latencies) > 20 * min(latencies):
        ax.set_xscale("log")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
