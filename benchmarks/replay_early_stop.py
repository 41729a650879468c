"""The hopeless rule of training/finetune.EarlyStop, replayed on recorded validation curves
(benchmarks/recovery.py --replay FILE...; no training). For each run and each target it reports
the step at which the rule would first fire (the 'within the target' stop is left out, so the rule
is checked alone, over the whole curve), the steps that would have saved, and for runs that did
reach the target the closest the projection came to stopping them. Exit 1 when the rule stops a
run that reached its target; the constants are the module's (finetune.HOPELESS_*), and --sweep
tries others."""
from __future__ import annotations

import json
from pathlib import Path

QUANTIZATION_RESERVE_DROP = 0.005  # compress: target = float - 0.5 x the default 0.01 budget (prune/tuning.py)
MIN_STEPS = 100  # compress's default --finetune-min-steps
PATIENCE = 2


def targets(float_dice: float) -> dict[str, float]:
    return {"0.99x": 0.99 * float_dice, "compress": float_dice - QUANTIZATION_RESERVE_DROP}


def last_round(row: dict, variants: dict) -> tuple[list[tuple[int, float]], int]:
    """The curve of the run's last round (the only one with a target), on its own step count, and its budget."""
    kwargs, _ = variants.get(row["variant"], ({}, 1.0))
    rounds = kwargs.get("rounds", 1)
    offset = row["steps"] - row["steps"] // rounds
    return [(s - offset, d) for s, d in row["curve"] if s > offset], row["steps"] - offset


def replay(curve: list[tuple[int, float]], max_steps: int, target: float) -> dict:
    from edgeseg.training.finetune import EarlyStop

    stop = EarlyStop(target, MIN_STEPS, PATIENCE, max_steps)
    closest = None
    for step, dice in curve:
        stop.update(step, dice)
        if stop.best < target and step >= MIN_STEPS and step < max_steps:
            margin = stop.projection - target
            closest = margin if closest is None else min(closest, margin)
        if stop.best < target and stop.why_stop(step) == "hopeless":
            return {"hopeless_at": step, "best_then": round(stop.best, 4), "projection": round(stop.projection, 4),
                    "saved": max_steps - step, "closest": closest, "lost": max(d for _, d in curve) - stop.best}
    return {"hopeless_at": None, "saved": 0, "closest": closest}


def check(files: list[str], variants: dict, quiet: bool = False) -> tuple[int, int, int, int]:
    """(false stops, steps saved, steps spent by the runs that missed, missed runs) over every file and target."""
    false_stops = saved = spent = missed = 0
    for file in files:
        rows = json.loads(Path(file).read_text())
        rows = rows["rows"] if isinstance(rows, dict) else rows
        for row in rows:
            curve, budget = last_round(row, variants)
            for name, target in targets(row["float_dice"]).items():
                reached = max(d for _, d in curve) >= target
                out = replay(curve, budget, target)
                if reached and out["hopeless_at"] is not None:
                    false_stops += 1
                if not reached:
                    saved, spent, missed = saved + out["saved"], spent + budget, missed + 1
                if quiet:
                    continue
                closest = "" if out["closest"] is None else f"{out['closest']:+.4f}"
                fired = "not stopped" if not out["hopeless_at"] else (
                    f"hopeless at {out['hopeless_at']} (best {out['best_then']:.4f}, projection "
                    f"{out['projection']:.4f}), saves {out['saved']}, loses {out['lost']:.4f}")
                print(f"| {row['variant']} s{row['seed']} | {row['ratio']} | {budget} | {name} {target:.4f} | "
                      f"{max(d for _, d in curve):.4f} | {'yes' if reached else 'no'} | {fired} | {closest} |")
    return false_stops, saved, spent, missed


def sweep(files: list[str], variants: dict) -> None:
    from edgeseg.training import finetune

    print("| after share | optimism | confirm | false stops | steps saved / spent on missed runs |")
    print("|---|---|---|---|---|")
    kept = finetune.HOPELESS_AFTER_SHARE, finetune.HOPELESS_OPTIMISM, finetune.HOPELESS_CONFIRM
    for after in (0.4, 0.5, 0.6):
        for optimism in (1.0, 1.5, 2.0, 3.0):
            for confirm in (1, 2):
                (finetune.HOPELESS_AFTER_SHARE, finetune.HOPELESS_OPTIMISM,
                 finetune.HOPELESS_CONFIRM) = after, optimism, confirm
                false_stops, saved, spent, _ = check(files, variants, quiet=True)
                print(f"| {after} | {optimism} | {confirm} | {false_stops} | {saved} / {spent} |")
    finetune.HOPELESS_AFTER_SHARE, finetune.HOPELESS_OPTIMISM, finetune.HOPELESS_CONFIRM = kept


def main(files: list[str], variants: dict, with_sweep: bool = True) -> int:
    from edgeseg.training import finetune

    print(f"EarlyStop hopeless rule: after {finetune.HOPELESS_AFTER_SHARE} of max_steps (and min_steps {MIN_STEPS}), "
          f"slope of the last {finetune.HOPELESS_WINDOW} evaluations x {finetune.HOPELESS_OPTIMISM}, "
          f"{finetune.HOPELESS_CONFIRM} evaluations in a row")
    print("| run | ratio | steps | target | best | reached | hopeless rule | closest projection - target |")
    print("|---|---|---|---|---|---|---|---|")
    false_stops, saved, spent, missed = check(files, variants)
    print(f"false stops (runs that reached their target): {false_stops}; runs that missed: {missed}, "
          f"steps saved on them: {saved} of {spent} ({saved / max(spent, 1):.0%})")
    if with_sweep:
        sweep(files, variants)
    return 1 if false_stops else 0
