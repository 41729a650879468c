"""The study's budget in seconds covers whole trials (issue 23: a `--prune auto` run within 15
minutes): a trial that the worker's trials so far say would end after the budget is not started.
A scripted clock; no training, no timing."""
from __future__ import annotations


def _run(tmp_path, seconds: float, trial_seconds: float, hopeless: bool = False):
    import optuna

    from edgeseg.search.study import Outcome, open_study, proposer, work

    study = open_study(str(tmp_path / "study.sqlite3"), {"model": "scripted"}, [])
    now, seen, said = [0.0], [], []

    def evaluate(ratio, trial):
        seen.append(ratio)
        now[0] += trial_seconds
        if hopeless:  # found hopeless only after its whole fine-tuning
            raise optuna.TrialPruned("hopeless")
        return Outcome(1.0 - ratio, 0.9, 100, "scripted", "m", {})

    ran = work(study, evaluate, seconds=seconds, log=said.append, clock=lambda: now[0],
               proposer=proposer(4, ("uniform",)))
    return ran, seen, said


def test_no_trial_starts_that_would_end_after_the_budget(tmp_path):
    # trials of 100 s in a 250 s budget: the third would start at 200 s and end at 300 s
    ran, seen, said = _run(tmp_path, seconds=250, trial_seconds=100)
    assert ran == 2 and seen == [0.5, 0.75]
    assert said[-1] == "      no further candidate: one takes about 100 s and 50 s of the 250 s search budget are left"


def test_a_hopeless_trial_counts_its_time_too(tmp_path):
    """(review) Only finished trials were counted: after hopeless ones the budget let a trial start
    just before its end, and the run overran it by a whole trial."""
    _, seen, said = _run(tmp_path, seconds=150, trial_seconds=100, hopeless=True)
    assert len(seen) == 1 and said[-1].startswith("      no further candidate: one takes about 100 s")


def test_the_first_trial_always_starts_and_a_roomy_budget_runs_all(tmp_path):
    ran, seen, _ = _run(tmp_path, seconds=50, trial_seconds=100)
    assert ran == 1 and seen == [0.5]
    ran, seen, said = _run(tmp_path / "roomy", seconds=10_000, trial_seconds=100)
    assert seen == [0.5, 0.75, 0.875] and ran == 3 and not any("no further candidate" in line for line in said)
