"""The Optuna study behind --prune auto: the pure rules (front, winner, order, cache key) on
tables, and two real worker processes sharing one SQLite study with a scripted candidate maker."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgeseg.compress.study_logic import (Row, by_device, candidate_key, dominates, grid, hopeless, pareto_front,
                                          search_order, winner)

WORKER = Path(__file__).with_name("study_worker.py")


def row(trial, latency, dice, size, machine="m", runtime="litert-cpu", ratio=0.5):
    return Row(trial, ratio, dice, size, latency, runtime, machine)


def test_front_keeps_only_undominated_rows_fastest_first():
    rows = [row(0, 5.0, 0.95, 100), row(1, 3.0, 0.93, 60), row(2, 3.5, 0.92, 70),  # 2 is dominated by 1
            row(3, 2.0, 0.80, 40), row(4, 3.0, 0.93, 50)]  # 4 dominates 1 (same speed and Dice, smaller)
    assert [r.trial for r in pareto_front(rows)] == [3, 4, 0]
    assert dominates(rows[4], rows[1]) and not dominates(rows[1], rows[4])
    assert not dominates(rows[0], rows[0])


def test_winner_is_the_fastest_front_member_within_the_budget():
    front = pareto_front([row(0, 5.0, 0.95, 100), row(1, 3.0, 0.93, 60), row(3, 2.0, 0.80, 40)])
    assert winner(front, floor=0.90).trial == 1
    assert winner(front, floor=0.70).trial == 3
    assert winner(front, floor=0.99) is None


def test_front_refuses_latencies_from_two_machines_and_groups_them():
    rows = [row(0, 5.0, 0.95, 100, machine="pi"), row(0, 1.0, 0.95, 100, machine="x86")]
    with pytest.raises(ValueError):
        pareto_front(rows)
    assert list(by_device(rows)) == [("litert-cpu", "pi"), ("litert-cpu", "x86")]


def test_search_order_is_the_whole_grid_coarse_to_fine_fast_half_first():
    points = grid()
    assert points[0] == 0.25 and points[-1] == 0.875 and len(points) == 11
    order = search_order(points)
    assert sorted(order) == points
    assert order[:5] == [0.5, 0.75, 0.875, 0.8125, 0.6875]
    assert all(r >= 0.5 for r in order[:7]) and all(r < 0.5 for r in order[7:])


def test_candidate_key_changes_with_each_input_and_only_then():
    base = ("a" * 64, {"train": "x"}, {"ratio": 0.5}, {"steps": 300}, 0)
    key = candidate_key(*base)
    assert key == candidate_key("a" * 64, {"train": "x"}, {"ratio": 0.5}, {"steps": 300}, 0)
    for i, other in enumerate(("b" * 64, {"train": "y"}, {"ratio": 0.5625}, {"steps": 301}, 1)):
        changed = list(base)
        changed[i] = other
        assert candidate_key(*changed) != key


def test_hopeless_only_far_below_the_floor():
    assert hopeless(0.70, floor=0.90) and not hopeless(0.85, floor=0.90) and not hopeless(None, floor=0.90)


def _start(location: str, log: Path, *flags: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(WORKER.parents[1]))
    return subprocess.Popen([sys.executable, str(WORKER), location, str(log), *flags], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _new_study(tmp_path: Path) -> tuple[str, object]:
    from edgeseg.compress.study import open_study

    location = str(tmp_path / "study.sqlite3")
    return location, open_study(location, {"model": "scripted"}, search_order(grid()), heartbeat_s=1, grace_s=2)


def _lines(log: Path, kind: str) -> list[tuple[int, float, int]]:
    return [(int(n), float(r), int(p)) for k, n, r, p in (line.split() for line in log.read_text().splitlines())
            if k == kind]


def test_two_workers_share_one_study_without_running_a_trial_twice(tmp_path):
    from study_worker import scripted

    from edgeseg.compress.study import join_study, rows

    location, _ = _new_study(tmp_path)
    log = tmp_path / "trials.log"
    workers = [_start(location, log), _start(location, log)]
    for w in workers:
        assert w.wait(timeout=120) == 0, w.stderr.read().decode()[-2000:]
    started, done = _lines(log, "start"), _lines(log, "done")
    assert len({pid for _, _, pid in done}) == 2  # both workers ran trials
    assert sorted(r for _, r, _ in started) == grid()  # every candidate once, none twice
    assert len({n for n, _, _ in started}) == len(started)
    found = rows(join_study(location))
    expected = [Row(0, r, *scripted(r)[1:], scripted(r)[0], "scripted", "test-machine") for r in grid()]
    by_ratio = {r.ratio: r for r in found}
    assert [by_ratio[r.ratio].ratio for r in pareto_front(expected)] == [r.ratio for r in pareto_front(found)]
    assert winner(pareto_front(found), floor=0.93).ratio == 0.6875  # faster than 0.75, within the budget


def test_a_killed_workers_trial_is_retried_by_the_other(tmp_path):
    from optuna.trial import TrialState

    from edgeseg.compress.study import join_study, rows

    location, _ = _new_study(tmp_path)
    slow_log, log = tmp_path / "slow.log", tmp_path / "trials.log"
    slow = _start(location, slow_log, "--slow")
    deadline = time.monotonic() + 60
    while not (slow_log.exists() and _lines(slow_log, "start")):
        assert time.monotonic() < deadline and slow.poll() is None, slow.stderr.read().decode()[-2000:]
        time.sleep(0.1)
    killed_ratio = _lines(slow_log, "start")[0][1]
    other = _start(location, log)
    time.sleep(0.5)
    os.kill(slow.pid, signal.SIGKILL)
    slow.wait()
    assert other.wait(timeout=120) == 0, other.stderr.read().decode()[-2000:]
    study = join_study(location)
    assert sorted(r.ratio for r in rows(study)) == grid()  # the killed candidate finished too, once
    assert killed_ratio in [r for _, r, _ in _lines(log, "done")]
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert [t.params["ratio"] for t in failed] == [killed_ratio]
