"""The CI gate: compare a bench run with a baseline file, row by row (same artifact, same
runtime). Latency is compared as a ratio to a reference artifact timed in the same run, so a
CI machine faster or slower than the baseline's machine does not move it."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..errors import DataError, UsageError

_TERM = re.compile(r"^\s*(latency|dice|pq|size)\s*=\s*([+-]?)\s*([0-9]*\.?[0-9]+)\s*(%?)\s*$")


@dataclass(frozen=True)
class Tolerances:
    latency: float | None = None  # allowed relative increase of p50 / reference p50
    dice: float | None = None  # allowed absolute decrease
    size: float | None = None  # allowed relative increase of bytes
    pq: float | None = None  # instance models: allowed absolute decrease of panoptic quality


# Scores gated on an absolute drop (the others on a relative increase): key, name in messages.
SCORES = (("dice", "Dice"), ("pq", "PQ"))


def parse_fail_on(text: str) -> Tolerances:
    """'latency=+10%,dice=-0.005,size=+2%' -> Tolerances(0.10, 0.005, 0.02); pq=-0.01 like dice."""
    values: dict[str, float] = {}
    for term in filter(None, (t.strip() for t in text.split(","))):
        match = _TERM.match(term)
        if not match:
            raise UsageError(f"--fail-on: cannot read {term!r}; write e.g. latency=+10%,dice=-0.005,size=+2%")
        key, sign, number, percent = match.groups()
        score = key in dict(SCORES)
        if key in values:
            raise UsageError(f"--fail-on names {key} twice")
        if (score and sign == "+") or (not score and sign == "-"):
            raise UsageError(f"--fail-on {term!r}: latency and size limit an increase (+), dice and pq a decrease (-)")
        if score and percent:
            raise UsageError(f"--fail-on {key} is an absolute drop, e.g. {key}=-0.005, not a percentage")
        if not score and not percent:
            raise UsageError(f"--fail-on {key} is a relative increase, e.g. {key}=+10%")
        values[key] = float(number) / (100.0 if percent else 1.0)
    if not values:
        raise UsageError("--fail-on is empty")
    return Tolerances(**values)


GATED_FIGURES = ("dice", "pq", "bytes", "p50_ms")


def unusable_figures(row: dict) -> list[str]:
    """Gated figures of an ok row that are present but not finite numbers (NaN, inf, text)."""
    return [k for k in GATED_FIGURES if row.get(k) is not None
            and (not isinstance(row[k], (int, float)) or isinstance(row[k], bool) or not math.isfinite(row[k]))]


def check_baseline(baseline, where: str) -> None:
    """Refuses, before anything is measured, a baseline (a BenchReport) whose ok rows could not gate
    size: a row of 0 bytes (or fewer) would switch the size check off or divide by zero."""
    for row in baseline.rows:
        size = row.bytes
        if row.status == "ok" and isinstance(size, (int, float)) and not isinstance(size, bool) and size <= 0:
            raise DataError(f"{where}: the baseline row {row.artifact} @ {row.runtime} has {size} bytes; "
                            "an artifact is never empty: remake the baseline")


def _key(row: dict) -> tuple[str, str]:
    return row["artifact"], row["runtime"]


def reference_rows(rows: list[dict], reference: str | None) -> dict[str, dict]:
    """runtime -> the row latency is divided by. The named artifact on the same runtime, else
    on any runtime; by default each runtime's first float32 artifact."""
    ok = [r for r in rows if r["status"] == "ok"]
    refs: dict[str, dict] = {}
    for runtime in {r["runtime"] for r in ok}:
        same = [r for r in ok if r["runtime"] == runtime]
        if reference:
            named = [r for r in same if r["artifact"] == reference] or [r for r in ok if r["artifact"] == reference]
        else:
            named = [r for r in same if r["precision"] == "float32"]
        if named:
            refs[runtime] = named[0]
    return refs


def relative_latency(rows: list[dict], reference: str | None) -> dict[tuple[str, str], tuple[float, str]]:
    refs = reference_rows(rows, reference)
    out = {}
    for row in rows:
        ref = refs.get(row["runtime"])
        if row["status"] == "ok" and ref is not None and ref is not row and not unusable_figures(ref) \
                and not unusable_figures(row) and (ref.get("p50_ms") or 0) > 0 and row.get("p50_ms") is not None:
            out[_key(row)] = (row["p50_ms"] / ref["p50_ms"], f"{ref['artifact']} @ {ref['runtime']}")
    return out


def score_drops(label: str, base: dict, row: dict, tol: Tolerances) -> list[str]:
    """Dice or PQ lower than the baseline's by more than its limit; a score either side lacks
    (PQ of a semantic row, Dice of an instance row) is not compared."""
    out = []
    for key, name in SCORES:
        limit, was, now = getattr(tol, key), base.get(key), row.get(key)
        if limit is not None and was is not None and now is not None and was - now > limit + 1e-12:
            out.append(f"{label}: {name} {was:.4f} -> {now:.4f} (-{was - now:.4f}, limit -{limit:g})")
    return out


def compare(current: dict, baseline: dict, tol: Tolerances, reference: str | None = None) -> tuple[list[str], list[str]]:
    """(regressions, notes). Each regression names the row, the figure and the limit."""
    now_rows = {_key(r): r for r in current["rows"]}
    regressions, notes = [], []
    asked = tuple(current.get("config", {}).get("runtimes", ("auto",)))
    chosen = {r["runtime"] for r in baseline["rows"]} if asked == ("auto",) else set(asked)
    rel_now = relative_latency(current["rows"], reference)
    rel_base = relative_latency(baseline["rows"], reference)
    for base in baseline["rows"]:
        key, label = _key(base), f"{base['artifact']} @ {base['runtime']}"
        if base["status"] != "ok":
            continue
        broken = unusable_figures(base)
        if broken:  # NaN compares False with everything: it would switch the check off silently
            regressions.append(f"{label}: the baseline's {', '.join(broken)} is not a finite number; "
                               "remake the baseline")
            continue
        row = now_rows.get(key)
        if row is None and base["runtime"] not in chosen:
            notes.append(f"{label}: not compared, --runtimes left {base['runtime']} out of this run")
            continue
        if row is None:
            regressions.append(f"{label}: measured in the baseline, missing from this run")
            continue
        if row["status"] != "ok":
            regressions.append(f"{label}: measured in the baseline, now {row['status']}: {row['reason']}")
            continue
        regressions += score_drops(label, base, row, tol)
        if tol.size is not None and base.get("bytes") and row["bytes"] / base["bytes"] - 1 > tol.size + 1e-12:
            regressions.append(f"{label}: size {base['bytes']:,} -> {row['bytes']:,} bytes "
                               f"(+{row['bytes'] / base['bytes'] - 1:.1%}, limit +{tol.size:.1%})")
        if tol.latency is not None:
            if key in rel_now and key in rel_base:
                (now, ref_now), (was, _) = rel_now[key], rel_base[key]
                change = now / was - 1
                if change > tol.latency + 1e-12:
                    regressions.append(f"{label}: latency +{change:.1%} relative to {ref_now} "
                                       f"({was:.3f}x -> {now:.3f}x its p50; limit +{tol.latency:.1%})")
            else:
                notes.append(f"{label}: latency not compared (it is the reference, or no reference row)")
    for key in now_rows.keys() - {_key(b) for b in baseline["rows"]}:
        notes.append(f"{key[0]} @ {key[1]}: new row, not in the baseline")
    return regressions, sorted(notes)
