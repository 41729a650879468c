"""--prune auto learns from its trials (issue 23, items 2 and 4): the next candidate is a pure
function of the results so far (a bisection per kind: gentler after a miss, bolder after a hit),
checked on scripted results; a real Optuna study driven by it with a scripted evaluator; and
per-layer candidates planned on a scripted latency table. No training, no timing."""
from __future__ import annotations

import numpy as np
import pytest

from edgeseg.search.logic import Result, next_ratio, propose


def hit(ratio, kind="uniform"):
    return Result(kind, ratio, True)


def miss(ratio, kind="uniform"):
    return Result(kind, ratio, False)


def running(ratio, kind="uniform"):
    return Result(kind, ratio, None)


# (results so far, the next ratio of that kind): bisection between the boldest hit (0 = the
# unpruned model) and the gentlest miss above it (1 = everything removed), on the 1/16 grid.
HISTORIES = [
    ([], 0.5),
    ([hit(0.5)], 0.75),  # a hit: bolder
    ([hit(0.5), miss(0.75)], 0.625),  # a miss: gentler, between the best hit and the miss
    ([hit(0.5), miss(0.75), hit(0.625)], 0.6875),
    ([hit(0.5), miss(0.75), miss(0.625)], 0.5625),
    ([hit(0.5), miss(0.75), hit(0.625), miss(0.6875)], None),  # converged on the grid
    ([miss(0.5)], 0.25),
    ([miss(0.5), miss(0.25)], None),  # nothing gentler on the grid: 1/4 is its lowest point
    ([hit(0.5), hit(0.75)], 0.875),
    ([hit(0.5), hit(0.75), hit(0.875)], None),  # 7/8 is the grid's boldest point
    ([hit(0.5), miss(0.25)], 0.75),  # a miss below a hit (noise) does not pull the search back
    ([running(0.5)], 0.75),  # parallel workers: the pending trial splits the interval, bolder half first
    ([running(0.5), running(0.75)], 0.25),  # then the widest gap
    ([hit(0.5), Result("uniform", 0.75, True, ceiling=True)], None),  # nothing bolder changes anything
]


@pytest.mark.parametrize("results, expected", HISTORIES)
def test_a_miss_leads_to_a_gentler_candidate_and_a_hit_to_a_bolder_one(results, expected):
    assert next_ratio(results) == expected


def test_kinds_take_turns_and_a_kind_that_cannot_remove_anything_is_dropped():
    assert propose([], 4) == ("uniform", 0.5)
    assert propose([hit(0.5)], 4) == ("per_layer", 0.5)
    assert propose([hit(0.5), miss(0.5, "per_layer")], 4) == ("uniform", 0.75)
    assert propose([hit(0.5), hit(0.75), miss(0.5, "per_layer")], 4) == ("per_layer", 0.25)
    empty = Result("per_layer", 0.5, False, empty=True)
    assert propose([hit(0.5), empty], 4) == ("uniform", 0.75)
    assert propose([hit(0.5), miss(0.75), empty], 6) == ("uniform", 0.625)
    assert propose([hit(0.5), miss(0.5, "per_layer")], 2) is None  # the trial limit
    done = [hit(0.5), miss(0.75), hit(0.625), miss(0.6875)]
    assert propose(done, 10, kinds=("uniform",)) is None  # converged: no candidate left to learn from


def _scripted_study(tmp_path, limit, deployable_below=0.6875):
    """A real Optuna study, proposals enqueued as trials finish; a candidate is deployable up to
    `deployable_below` (uniform) or 0.5 (per-layer)."""
    from edgeseg.search.study import Outcome, join_study, kind_of, open_study, proposer, results, rows, work

    location = str(tmp_path / "study.journal")  # no heartbeat: quicker than SQLite, the same queue
    open_study(location, {"model": "scripted"}, [])
    seen = []

    def evaluate(ratio, trial):
        kind = kind_of(trial.params)
        seen.append((kind, ratio))
        ok = ratio <= (deployable_below if kind == "uniform" else 0.5)
        return Outcome(10.0 * (1 - ratio), 0.9 if ok else 0.5, 100, "scripted", "m", {"deployable": ok})

    done = work(join_study(location), evaluate, seconds=60, log=lambda _: None, proposer=proposer(limit))
    return seen, done, rows(join_study(location)), results(join_study(location)), location


def test_the_study_proposes_each_candidate_from_the_finished_ones(tmp_path):
    seen, done, found, tried, _ = _scripted_study(tmp_path, limit=7)
    assert seen == [("uniform", 0.5), ("per_layer", 0.5), ("uniform", 0.75), ("per_layer", 0.75),
                    ("uniform", 0.625), ("per_layer", 0.625), ("uniform", 0.6875)]
    assert done == 7 and {(r.kind, r.ratio) for r in found} == set(seen)
    assert {(r.kind, r.ratio): r.hit for r in tried}[("uniform", 0.75)] is False


def test_a_resumed_study_continues_the_same_sequence(tmp_path):
    from edgeseg.search.study import Outcome, join_study, kind_of, proposer, work

    seen, *_, location = _scripted_study(tmp_path, limit=3)
    more = []

    def evaluate(ratio, trial):
        more.append((kind_of(trial.params), ratio))
        return Outcome(1.0, 0.9, 100, "scripted", "m", {"deployable": ratio <= 0.6875})

    work(join_study(location), evaluate, seconds=60, log=lambda _: None, proposer=proposer(5))
    assert seen + more == [("uniform", 0.5), ("per_layer", 0.5), ("uniform", 0.75), ("per_layer", 0.75),
                           ("uniform", 0.625)]


class _Trial:
    def __init__(self):
        self.user_attrs = {}

    def set_user_attr(self, key, value):
        self.user_attrs[key] = value


def _planner(tmp_path, rows, importance):
    from types import SimpleNamespace

    from edgeseg.prune.latency_table import LatencyTable, cache_key, store_table
    from edgeseg.search.per_layer_plan import TABLE_FILE, PerLayerPlanner

    table = LatencyTable("litert-cpu", "m", 2, 10.0, 0.1, rows)
    store_table(tmp_path / TABLE_FILE, cache_key("sha", "litert-cpu", "m", 2), table)
    planner = PerLayerPlanner(ctx=None, model_sha256="sha", runtime=SimpleNamespace(name="litert-cpu"), machine="m",
                              threads=2, cache=tmp_path, scratch=tmp_path / "scratch")
    planner._importance = importance  # Taylor scores need a model: scripted here
    return planner


def test_a_per_layer_candidate_is_planned_on_the_cached_table(tmp_path):
    from edgeseg.search.trial import _plan

    rows = {"wide": {64: 10.0, 32: 7.0, 16: 5.5}, "narrow": {16: 10.0, 8: 9.95}}
    planner = _planner(tmp_path, rows, {"wide": np.ones(64), "narrow": np.ones(16)})
    trial = _Trial()
    candidate, counts = _plan("per_layer", 0.25, planner, trial, lambda _: None)  # 7.5 ms of 10
    assert counts == {"wide": 32, "narrow": 16} and candidate == {"kind": "per_layer", "counts": counts}
    assert trial.user_attrs == {"ceiling": False, "estimated_ms": 7.0, "target_ms": 7.5}
    _plan("per_layer", 0.75, planner, trial, lambda _: None)  # 2.5 ms: the table runs out first
    assert trial.user_attrs["ceiling"] is True
    assert _plan("uniform", 0.5, planner, _Trial(), lambda _: None) == ({"ratio": 0.5}, None)


def test_a_table_with_no_step_that_saves_time_stops_the_per_layer_kind(tmp_path):
    import optuna

    from edgeseg.search.trial import _plan

    flat = {"a": {32: 10.0, 16: 9.98, 8: 9.97}}  # inside the 0.1 ms noise: channels buy nothing here
    trial = _Trial()
    with pytest.raises(optuna.TrialPruned):
        _plan("per_layer", 0.5, _planner(tmp_path, flat, {"a": np.ones(32)}), trial, lambda _: None)
    assert trial.user_attrs["empty"] is True and "no channel step" in trial.user_attrs["stopped_because"]


def test_a_per_layer_ceiling_no_faster_than_a_measured_candidate_is_not_fine_tuned(tmp_path):
    from types import SimpleNamespace

    import optuna

    from edgeseg.search.trial import _plan

    rows = {"wide": {64: 10.0, 32: 9.0}}  # the boldest per-layer counts: 0.9x plain int8, estimated
    measured = SimpleNamespace(values=(7.5, 0.9, 100), user_attrs={"deployable": True, "plain_int8_p50_ms": 10.0})
    slow = SimpleNamespace(values=(9.5, 0.9, 100), user_attrs={"deployable": True, "plain_int8_p50_ms": 10.0})
    for done, stopped in (([measured], True), ([slow], False), ([], False)):
        trial = _Trial()
        trial.study = SimpleNamespace(get_trials=lambda deepcopy, states, done=done: done)
        planner = _planner(tmp_path / str(len(done)) / str(stopped), rows, {"wide": np.ones(64)})
        if stopped:  # a uniform candidate already runs at 0.75x: these counts cannot win
            with pytest.raises(optuna.TrialPruned):
                _plan("per_layer", 0.5, planner, trial, lambda _: None)
            assert trial.user_attrs["empty"] and "no faster than a candidate already measured" in \
                trial.user_attrs["stopped_because"]
        else:
            assert _plan("per_layer", 0.5, planner, trial, lambda _: None)[1] == {"wide": 32}


def test_a_table_with_no_step_needs_no_importance(tmp_path):
    import optuna

    from edgeseg.search.trial import _plan

    planner = _planner(tmp_path, {"a": {32: 10.0, 8: 9.97}}, None)  # ctx=None: a Taylor pass would raise
    with pytest.raises(optuna.TrialPruned):
        _plan("per_layer", 0.5, planner, _Trial(), lambda _: None)


def test_the_study_record_and_report_show_each_layers_kept_channels(tmp_path):
    from edgeseg.search.logic import Row, pareto_front
    from edgeseg.artifacts import typed
    from edgeseg.search.report import study_info, study_markdown

    rows = [Row(0, 0.5, 0.93, 900, 6.0, "litert-cpu", "m"), Row(1, 0.5, 0.94, 1000, 5.0, "litert-cpu", "m", "per_layer")]
    attrs = {0: {"kept": {"enc1_conv1": [16, 32]}}, 1: {"kept": {"enc1_conv1": [32, 32], "dec1_conv1": [8, 32]},
                                                       "target_ms": 4.5, "estimated_ms": 4.4, "ceiling": False}}
    info = study_info("s.sqlite3", rows, {("litert-cpu", "m"): pareto_front(rows)}, rows[1], 0.9, "litert-cpu", "m",
                      attrs, [], 2, 1.0, tmp_path / "search", 6.5)
    assert info.winner_kind == "per_layer" and info.winner_row.kept["dec1_conv1"] == [8, 32]
    assert [(c.kind, c.kept) for c in info.candidates] == [("uniform", {"enc1_conv1": [16, 32]}),
                                                           ("per_layer", attrs[1]["kept"])]
    assert typed.from_dict(type(info), info.to_dict(), "study") == info  # the new fields round-trip
    text = "\n".join(study_markdown(info))
    assert "winner per_layer ratio 0.5" in text and "| dec1_conv1 | 8 | 32 |" in text
