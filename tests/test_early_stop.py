"""EarlyStop's hopeless rule on synthetic validation curves (no training): a run that cannot
reach its target is stopped after half its budget; one still rising fast enough, or one that has
reached its target, never is."""
from __future__ import annotations

import pytest

from edgeseg.training.finetune import HOPELESS_AFTER_SHARE, EarlyStop, recent_rate

EVERY = 25


def replay(stop: EarlyStop, curve) -> tuple[int, str] | None:
    """(step, reason) of the first stop, or None."""
    for step, dice in curve:
        stop.update(step, dice)
        why = stop.why_stop(step)
        if why:
            return step, why
    return None


def steps(last: int) -> range:
    return range(EVERY, last + 1, EVERY)


def test_a_flat_curve_below_the_target_is_stopped_after_half_the_budget():
    stop = EarlyStop(target=0.93, min_steps=100, patience=2, max_steps=400)
    first = replay(stop, [(s, 0.90) for s in steps(400)])
    assert first is not None and first[1] == "hopeless"
    assert first[0] == HOPELESS_AFTER_SHARE * 400  # not before half the budget, nor after it once flat
    assert stop.projection == pytest.approx(0.90)


def test_the_minimum_steps_hold_back_the_hopeless_rule():
    stop = EarlyStop(target=0.93, min_steps=300, patience=2, max_steps=400)
    assert replay(stop, [(s, 0.90) for s in steps(400)]) == (300, "hopeless")


def test_a_rising_curve_that_will_reach_the_target_is_not_stopped():
    # +0.01 per 100 steps from 0.88: 0.92 at step 400, target 0.925 within reach by 450 at that rate
    curve = [(s, 0.88 + 0.0001 * s) for s in steps(450)]
    stop = EarlyStop(target=0.925, min_steps=100, patience=2, max_steps=500)
    assert replay(stop, curve) is None


def test_a_curve_that_reaches_its_target_is_never_stopped_as_hopeless():
    # over the target at step 75, then far below it and flat for the rest of the budget
    curve = [(25, 0.80), (50, 0.85), (75, 0.95)] + [(s, 0.85) for s in steps(400) if s > 75]
    patient = EarlyStop(target=0.93, min_steps=100, patience=10 ** 6, max_steps=400)
    assert replay(patient, curve) is None
    assert replay(EarlyStop(target=0.93, min_steps=100, patience=2, max_steps=400), curve) == (125, "within")


def test_a_dip_while_the_curve_still_climbs_is_not_taken_for_a_plateau():
    """The review's case: a dip past half the budget, then the climb resumes to the target."""
    dip = [0.80, 0.88, 0.90, 0.91, 0.92, 0.90, 0.89, 0.91, 0.925, 0.93, 0.935, 0.94]
    stop = EarlyStop(target=0.93, min_steps=100, patience=10 ** 6, max_steps=300)
    assert replay(stop, list(zip(steps(300), dip))) is None


def test_instance_fine_tuning_never_gives_up_as_hopeless():
    """PQ plateaus, then jumps when instances separate: the rule is validated on Dice curves only."""
    from edgeseg.training.task_training import instance_training, semantic_training

    assert semantic_training(1).gives_up_hopeless and not instance_training(None, False).gives_up_hopeless


def test_without_a_budget_or_a_target_the_rule_is_off():
    flat = [(s, 0.5) for s in steps(400)]
    assert replay(EarlyStop(target=0.93, min_steps=0, patience=2), flat) is None
    assert replay(EarlyStop(target=None, min_steps=0, patience=2, max_steps=400), flat) is None


def test_recent_rate_is_the_least_squares_slope():
    assert recent_rate([(0, 0.5), (25, 0.6), (50, 0.7), (75, 0.8)]) == pytest.approx(0.004)
    assert recent_rate([(0, 0.5), (25, 0.5)]) == 0.0
    assert recent_rate([(10, 0.5)]) == 0.0


def test_the_study_record_and_report_say_why_a_candidates_fine_tuning_ended(tmp_path):
    from edgeseg.artifacts import typed
    from edgeseg.search.logic import Row, pareto_front
    from edgeseg.search.report import study_info, study_markdown

    rows = [Row(0, 0.5, 0.94, 900, 6.0, "litert-cpu", "m"), Row(1, 0.875, 0.91, 500, 4.0, "litert-cpu", "m")]
    why = "hopeless: best Dice 0.9183, at most 0.9183 by step 525 at the recent rate, below the recovery target 0.9367"
    attrs = {0: {"finetune_stop": "within the target Dice 0.9367 and no better for 2 evaluations"},
             1: {"finetune_stop": why}}
    info = study_info("s.sqlite3", rows, {("litert-cpu", "m"): pareto_front(rows)}, rows[0], 0.93, "litert-cpu", "m",
                      attrs, [], 2, 1.0, tmp_path / "search", 6.5)
    written = info.to_dict()
    assert [c["finetune_stop"] for c in written["candidates"]] == [attrs[0]["finetune_stop"], why]
    assert typed.from_dict(type(info), written, "study") == info
    text = "\n".join(study_markdown(info))
    assert "given up as hopeless" in text and f"uniform ratio 0.875: {why}" in text
    assert "ratio 0.5: within" not in text
