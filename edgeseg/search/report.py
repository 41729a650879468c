"""--prune auto's study in report.json (the `study` record) and report.md (the Pareto front per
runtime and machine, each row labelled as `bench merge` labels machines), and its plot."""
from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

from ..artifacts.study_record import StoppedCandidate, StudyFront, StudyRecord, StudyRow
from .logic import Row

# What a study row takes from its trial's attributes: every StudyRow field the search's Row lacks
# (the Budget's verdict, kept channels, a per-layer candidate's plan).
_FROM_ATTRS = tuple(f.name for f in dataclasses.fields(StudyRow)
                    if f.name != "extra" and f.name not in {g.name for g in dataclasses.fields(Row)})


def _row(r: Row, attrs: dict) -> StudyRow:
    extra = {k: attrs.get(k) for k in _FROM_ATTRS}
    # why its fine-tuning ended (finetune.EarlyStop: within the target, hopeless, or the budget)
    stop = {"finetune_stop": attrs["finetune_stop"]} if attrs.get("finetune_stop") else {}
    return StudyRow(**r.to_dict(), **{k: v for k, v in extra.items() if v is not None}, extra=stop)


def study_info(location: str, everything: list[Row], fronts: dict[tuple[str, str], list[Row]], best: Row | None, floor: float,
               target: str, machine: str, attrs: dict[int, dict], stopped: list[dict], ran_here: int,
               seconds: float, folder: Path, plain_p50: float | None) -> StudyRecord:
    """The report.json record. `candidates` are every finished candidate timed on this run's
    runtime and machine (`fronts` the Pareto fronts of each runtime and machine), so
    readers of the bisection's `search` record (the verdict) read it the same way;
    `plain_p50`: plain int8's p50 in the same interleaved run."""
    mine = [r for r in everything if (r.runtime, r.machine) == (target, machine)]
    typed_fronts = [StudyFront(runtime, where, [_row(r, attrs.get(r.trial, {})) for r in rows])
                    for (runtime, where), rows in fronts.items()]
    winner_row = None if best is None else _row(best, attrs.get(best.trial, {}))
    plot = plot_fronts(typed_fronts, round(floor, 5), folder / "pareto.png", winner_row)
    return StudyRecord(
        engine="optuna", study=location if "://" not in location else _hide_password(location), target=target,
        machine=machine, floor=round(floor, 5), seconds=round(seconds, 1), trials_run_here=ran_here,
        winner=None if best is None else best.ratio, winner_kind=None if best is None else best.kind,
        winner_row=winner_row,
        candidates=[_row(r, attrs.get(r.trial, {})) for r in mine], fronts=typed_fronts,
        pruned=[StoppedCandidate(p["trial"], p["ratio"], p.get("float_dice"), p.get("kind"), p.get("reason"))
                for p in stopped],
        plot=None if plot is None else f"{folder.name}/{plot.name}", int8_p50_ms=plain_p50)


def _hide_password(url: str) -> str:
    """A database URL without its password: report.json is shipped with the artifacts."""
    head, sep, tail = url.partition("://")
    if "@" not in tail:
        return url
    credentials, host = tail.rsplit("@", 1)
    return f"{head}{sep}{credentials.split(':', 1)[0]}:***@{host}"


def _kind(row: StudyRow) -> str:
    scale = f" (input scale {row.scale:g})" if row.scale and row.scale < 1.0 else ""
    return (row.kind or "uniform") + scale


def study_markdown(study: StudyRecord) -> list[str]:
    """report.md's section: one Pareto-front table per runtime and machine."""
    winner = study.winner_row
    out = [f"Channel-ratio study (--prune auto, Optuna) `{study.study}`: {study.seconds:.0f} s here, "
           f"{study.trials_run_here} trial(s) run by this worker; Dice floor {study.floor:.4f}; this "
           f"machine's candidates re-timed in one interleaved run (plain int8 {study.int8_p50_ms} ms); winner "
           + ("none (no front member within the budget)" if winner is None else
              f"{_kind(winner)} ratio {winner.ratio} ({winner.latency_ms} ms on {study.target}, "
              f"{study.machine})") + ".", ""]
    for front in study.fronts:
        out += [f"Pareto front on {front.runtime}, {front.machine}:", "",
                "| trial | kind | ratio | p50 ms | int8 Dice | bytes | machine | runtime |",
                "|---|---|---|---|---|---|---|---|"]
        out += [f"| {r.trial} | {_kind(r)} | {r.ratio} | {r.latency_ms} | {r.dice:.4f} | {r.bytes:,} | "
                f"{r.machine} | {r.runtime} |" for r in front.rows]
        out += [""]
    if winner is not None and winner.kept:
        out += ["The winner's kept output channels per layer:", "", "| layer | kept | of |", "|---|---|---|"]
        out += [f"| {name} | {kept} | {total} |" for name, (kept, total) in winner.kept.items()] + [""]
    given_up = [r for r in study.candidates if str(r.extra.get("finetune_stop", "")).startswith("hopeless")]
    if given_up:
        out += ["Fine-tuning given up as hopeless (it could not reach its recovery target in the steps left; "
                "the candidate is still judged by the budget's floor): "
                + "; ".join(f"{r.kind or 'uniform'} ratio {r.ratio}: {r.extra['finetune_stop']}" for r in given_up)
                + ".", ""]
    if study.pruned:
        out += ["Stopped early (float Dice after recovery far below the floor, or no step in the latency table): "
                + ", ".join(f"{p.kind or 'uniform'} ratio {p.ratio}" + (f" ({p.reason})" if p.reason else "")
                            for p in study.pruned) + ".", ""]
    return out


def plot_fronts(fronts: list[StudyFront], floor: float, path: Path, winner: StudyRow | None = None) -> Path | None:
    """p50 against int8 Dice, one series per runtime and machine; None without matplotlib."""
    if importlib.util.find_spec("matplotlib") is None or not fronts:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kept = winner.kept if winner is not None else None
    fig, axes = plt.subplots(1, 2 if kept else 1, figsize=(12 if kept else 6, 4), squeeze=False)
    ax = axes[0][0]
    for front in fronts:
        rows = front.rows
        ax.plot([r.latency_ms for r in rows], [r.dice for r in rows], marker="o",
                label=f"{front.runtime}, {front.machine[:40]}")
        for r in rows:
            ax.annotate(f"{'L' if r.kind == 'per_layer' else ''}{r.ratio:.4g}", (r.latency_ms, r.dice),
                        textcoords="offset points",
                        xytext=(5, 3), fontsize=8)
    ax.axhline(floor, color="grey", linestyle="--", label="Dice floor (budget)")
    ax.set_xlabel("p50 ms")
    ax.set_ylabel("int8 Dice")
    ax.set_title("--prune auto study: Pareto front (latency, Dice, size)")
    ax.legend(fontsize=7)
    if kept:
        _plot_kept(axes[0][1], kept, winner)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _plot_kept(ax, kept: dict, winner: StudyRow) -> None:
    """The winner's kept output channels per layer, against each layer's original count."""
    names = list(kept)
    positions = range(len(names))
    ax.bar(positions, [total for _, total in kept.values()], color="lightgrey", label="original")
    ax.bar(positions, [count for count, _ in kept.values()], color="tab:blue", label="kept")
    ax.set_xticks(list(positions), names, rotation=90, fontsize=6)
    ax.set_ylabel("output channels")
    ax.set_title(f"winner ({winner.kind or 'uniform'} {winner.ratio:.4g}): kept channels per layer", fontsize=9)
    ax.legend(fontsize=7)


__all__ = ["plot_fronts", "study_info", "study_markdown"]
