"""compress's held-out scores of decoding settings tuned on the validation images (instance
models): what the float model's tuning and an artifact's re-tuning are worth on images they
were not tuned on (edgeseg/instances/cross_fit.py cross-fits), and how report.md and the terminal
say which PQ decided an artifact's verdict."""
from __future__ import annotations

import numpy as np

from .cross_fit import cross_fit, folds_for
from .scoring import DecodeSettings, GridCounts

TOO_FEW = "fewer than 2 validation images: none can be held out"


def held_out_record(outputs: list[np.ndarray], truths: list[np.ndarray], base: DecodeSettings | None = None,
                    folds: int | None = None, table: GridCounts | None = None) -> dict:
    """The cross-fitted scores of tuning on these images, as a tuning record's "held_out"
    (k: folds_for the number of images unless given; `table`: their grid_counts, if made)."""
    held = cross_fit(outputs, truths, base, folds=folds or folds_for(len(truths)), table=table)
    return {"pq": None, "f1": None, "unavailable": TOO_FEW} if held is None else held.to_dict()


def held_out_scores(outputs: list[np.ndarray], truths: list[np.ndarray], base: DecodeSettings,
                    folds: int | None = None) -> dict:
    """An artifact's scores beside its in-sample ones when its decoding was re-tuned on these
    images from `base`: pq_held_out and f1_held_out (None when none can be held out: the budget
    then says "not measured", it never falls back on the in-sample PQ) and how they were made."""
    record = held_out_record(outputs, truths, base, folds)
    return {"pq_held_out": record["pq"], "f1_held_out": record["f1"], "held_out": record}


def format_score(value: float | None) -> str:
    """A held-out figure, or "not measured" (fewer than 2 images: none could be held out)."""
    return "not measured" if value is None else f"{value:.4f}"


def fold_wording(record: dict) -> str:
    folds, images = record.get("folds"), sum(record.get("images_per_fold") or [])
    if not folds:
        return "none held out"
    return "leave-one-out" if folds == images else f"{folds}-fold cross-fit"


def held_out_lines(report: dict) -> list[str]:
    """One line per artifact whose verdict a held-out PQ decided, one per re-tuned attempt that a
    held-out PQ ruled out (its in-sample PQ may have passed), and the float tuning's held-out PQ."""
    lines = []
    tuning = (report.get("instance") or {}).get("decode_tuning") or {}
    if "held_out" in tuning:
        held = tuning["held_out"]
        lines.append(f"float decoding tuned by compress on these images: PQ {tuning['scores']['pq']:.4f} in-sample, "
                     f"{format_score(held['pq'])} held-out ({fold_wording(held)}; F1 {format_score(held['f1'])})")
    for a in report["artifacts"]:
        if a.get("decided_by") == "pq_held_out":
            lines.append(f"{a['path']}: decoding re-tuned on the images that score it; held-out PQ "
                         f"{format_score(a.get('pq_held_out'))} (F1 {format_score(a.get('f1_held_out'))}, "
                         f"{fold_wording(a.get('held_out') or {})}) decided, in-sample PQ "
                         f"{format_score(a.get('pq'))} with the settings it ships")
        lines += [f"{a['path']}: {t['method']} missed on held-out PQ {format_score(t.get('pq_held_out'))} (in-sample PQ "
                  f"{format_score(t.get('pq'))})" for t in a.get("attempts") or []
                  if "pq_held_out" in t and not t.get("met_budget") and t["method"] != a.get("method")]
    return lines
