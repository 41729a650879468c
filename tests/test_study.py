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

from edgeseg.search.logic import (Row, by_device, candidate_key, dominates, grid, hopeless, pareto_front,
                                          search_order, winner)
from edgeseg.scoring.budget import Budget

WORKER = Path(__file__).with_name("study_worker.py")


def row(trial, latency, dice, size, machine="m", runtime="litert-cpu", ratio=0.5):
    return Row(trial, ratio, dice, size, latency, runtime, machine)


def test_front_keeps_only_undominated_rows_fastest_first():
    rows = [row(0, 5.0, 0.95, 100), row(1, 3.0, 0.93, 60), row(2, 3.5, 0.92, 70),  # 2 is dominated by 1
            row(3, 2.0, 0.80, 40), row(4, 3.0, 0.93, 50)]  # 4 dominates 1 (same speed and Dice, smaller)
    assert [r.trial for r in pareto_front(rows)] == [3, 4, 0]
    assert dominates(rows[4], rows[1]) and not dominates(rows[1], rows[4])
    assert not dominates(rows[0], rows[0])


def within(floor: float, baseline: float = 1.0):
    """The Budget's verdict on a row's int8 Dice alone (no agreement measured)."""
    budget = Budget(baseline, baseline - floor)
    return lambda r: budget.judge({"dice": r.dice})[0]


def test_winner_is_the_fastest_candidate_the_budget_calls_deployable():
    rows = [row(0, 5.0, 0.95, 100), row(1, 3.0, 0.93, 60), row(3, 2.0, 0.80, 40), row(4, 4.0, 0.91, 80)]
    assert winner(rows, within(0.90)).trial == 1
    assert winner(rows, within(0.70)).trial == 3
    assert winner(rows, within(0.99)) is None
    # Budget decides, agreement included: a candidate that disagrees with its float model never wins
    budget = Budget(1.0, 0.10)
    scores = {1: {"dice": 0.93, "mask_agreement": 0.5, "mean_abs_diff": 0.01}}
    assert winner(rows, lambda r: budget.judge(scores.get(r.trial, {"dice": r.dice}))[0]).trial == 4
    failed = Budget(1.0, 0.10, baseline_problem="float Dice 0.0100 is far below what a trained model reaches")
    assert winner(rows, lambda r: failed.judge({"dice": r.dice})[0]) is None


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
    budget = Budget(0.95, 0.05)  # floor 0.90
    assert hopeless(0.70, budget) == "float Dice 0.7000 after recovery, far below the floor 0.9000"
    assert hopeless(0.85, budget) is None and hopeless(None, budget) is None


def _start(location: str, log: Path, *flags: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(WORKER.parents[1]))
    return subprocess.Popen([sys.executable, str(WORKER), location, str(log), *flags], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _new_study(tmp_path: Path) -> tuple[str, object]:
    from edgeseg.search.study import open_study

    location = str(tmp_path / "study.sqlite3")
    return location, open_study(location, {"model": "scripted"}, search_order(grid()), heartbeat_s=1, grace_s=2)


def _lines(log: Path, kind: str) -> list[tuple[int, float, int]]:
    return [(int(n), float(r), int(p)) for k, n, r, p in (line.split() for line in log.read_text().splitlines())
            if k == kind]


def test_two_workers_share_one_study_without_running_a_trial_twice(tmp_path):
    from study_worker import scripted

    from edgeseg.search.study import join_study, rows

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
    assert winner(found, within(0.93)).ratio == 0.6875  # faster than 0.75, within the budget
    assert {t.number for t in join_study(location).best_trials} == {r.trial for r in pareto_front(found)}  # Optuna's


def test_a_journal_file_study_runs_queued_trials_once(tmp_path):
    from study_worker import scripted

    from edgeseg.search.study import Outcome, join_study, open_study, rows, work

    location = str(tmp_path / "shared" / "study.journal")
    open_study(location, {"model": "scripted"}, search_order(grid())[:3])
    seen = []

    def evaluate(ratio, trial):
        seen.append(ratio)
        latency, dice, size = scripted(ratio)
        return Outcome(latency, dice, size, "scripted", "m", {})

    assert work(join_study(location), evaluate, seconds=60, log=lambda _: None) == 3
    assert work(join_study(location), evaluate, seconds=60, log=lambda _: None) == 0  # resumed: nothing left
    assert seen == [0.5, 0.75, 0.875] and len(rows(join_study(location))) == 3


def test_a_killed_workers_trial_is_retried_by_the_other(tmp_path):
    from optuna.trial import TrialState

    from edgeseg.search.study import join_study, rows

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


def test_bad_study_locations_are_one_line_refusals(tmp_path):
    from conftest import last_error_line, run_cli

    from edgeseg.search.study import check_study
    from edgeseg.errors import UsageError

    out = tmp_path / "out"
    with pytest.raises(UsageError, match="inside --out"):
        check_study(str(out / "study.sqlite3"), out, ())
    with pytest.raises(UsageError, match="input"):
        check_study(str(tmp_path / "data" / "s.sqlite3"), out, (tmp_path / "data",))
    with pytest.raises(UsageError, match="file path or a database URL"):
        check_study("ftp://host/study", out, ())
    assert check_study(None, out, ()) == str(tmp_path / "out.study" / "study.sqlite3")
    for args, said in ((("search-worker", "--study", str(tmp_path / "none.sqlite3")), "does not exist"),
                       (("search-worker", "--study", "ftp://host/x"), "database URL"),
                       (("search-worker", "--study", str(tmp_path), "--role", "measure"), "is a folder"),
                       (("compress", "m.keras", "--prune", "channels", "--study", "x.sqlite3"), "for --prune auto")):
        result = run_cli(*args)
        assert result.returncode == 2, (args, result.stderr[-500:])
        assert said in last_error_line(result)


def test_a_study_made_for_another_model_is_refused(tmp_path):
    from edgeseg.search.study import open_study
    from edgeseg.errors import UsageError

    location = str(tmp_path / "s.sqlite3")
    open_study(location, {"model_sha256": "a", "seed": 0, "cache": "x"}, [0.5])
    open_study(location, {"model_sha256": "a", "seed": 0, "cache": "elsewhere"}, [0.5])  # a moved cache is fine
    with pytest.raises(UsageError, match="another model_sha256"):
        open_study(location, {"model_sha256": "b", "seed": 0, "cache": "x"}, [0.5])


def test_a_study_made_with_other_candidate_kinds_is_refused(tmp_path):
    """A study from a version with another search space (Optuna would refuse its `kind` parameter
    on every trial) is refused once, in one line."""
    from types import SimpleNamespace

    from edgeseg.errors import UsageError
    from edgeseg.search.study import open_study
    from edgeseg.search.trial import SETTINGS, identity

    ctx = SimpleNamespace(config=SimpleNamespace(**dict.fromkeys(SETTINGS, 0), seed=0))
    now = identity(ctx, "a", "d", tmp_path / "cache")
    location = str(tmp_path / "s.sqlite3")
    open_study(location, {k: v for k, v in now.items() if k != "kinds"}, [0.5])  # made before `kinds` was recorded
    with pytest.raises(UsageError, match="another kinds"):
        open_study(location, now, [0.5])


@pytest.fixture(scope="module")
def tiny_study(tiny_model_path, tmp_path_factory):
    """compress --prune auto on the tiny model, one candidate, its study beside OUT."""
    from conftest import run_cli

    root = tmp_path_factory.mktemp("study")
    args = ("compress", str(tiny_model_path), "--prune", "auto", "--search-trials", "1", "--finetune-steps", "4",
            "--max-dice-drop", "1.0", "--data", "synthetic", "--synthetic-train", "32", "--synthetic-val", "8", "--calibration-samples", "8",
            "--formats", "tflite", "--out", str(root / "out"), "--force")
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    return root, args


@pytest.mark.slow
def test_compress_prune_auto_runs_a_study_that_a_rerun_resumes(tiny_study):
    import json

    from conftest import run_cli

    root, args = tiny_study
    report = json.loads((root / "out" / "report.json").read_text())
    study = report["study"]
    assert study["study"] == str(root / "out.study" / "study.sqlite3") and study["trials_run_here"] == 1
    assert study["winner"] == 0.5 and report["channels"]["ratio"] == 0.5  # the budget admits it (drop 1.0)
    assert study["fronts"][0]["machine"] == study["machine"] and study["fronts"][0]["rows"][0]["latency_ms"] > 0
    assert "Pareto front on litert-cpu" in (root / "out" / "report.md").read_text()
    ends = {a["path"]: a for a in report["artifacts"] if a["path"].endswith("_int8_float_ends.tflite")}
    assert set(ends) == {"model_int8_float_ends.tflite", "model_channels_int8_float_ends.tflite"}
    assert {a["method"] for a in ends.values()} == {"float-ends"}  # judged like any artifact, timed when it ships
    assert ends["model_int8_float_ends.tflite"]["deployable"] and ends["model_int8_float_ends.tflite"]["p50_ms"] > 0
    assert not ends["model_int8_float_ends.tflite"].get("explain")  # its int8 layers are explained on ptq's file
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    resumed = json.loads((root / "out" / "report.json").read_text())["study"]
    assert resumed["trials_run_here"] == 0  # nothing recomputed: the same trials, read back (latency is re-timed)
    assert [{**c, "latency_ms": None} for c in resumed["candidates"]] == [{**c, "latency_ms": None}
                                                                         for c in study["candidates"]]


@pytest.mark.slow
def test_workers_split_training_and_measuring(tiny_study):
    from conftest import run_cli

    from edgeseg.runtimes.machine import machine_info
    from edgeseg.search.context import target_runtime
    from edgeseg.search.study import join_study, rows
    from edgeseg.search.worker_measure import measure_worker

    root, _ = tiny_study
    location = str(root / "out.study" / "study.sqlite3")
    join_study(location).enqueue_trial({"ratio": 0.625})
    trained = run_cli("search-worker", "--study", location, "--role", "train")  # the strong machine's worker
    assert trained.returncode == 0 and "finished 1 trial(s)" in trained.stdout, trained.stderr[-3000:]
    study = join_study(location)
    here = machine_info(2)["label"]
    assert measure_worker(study, target_runtime("litert-cpu"), here, None, 2, 10, log=lambda _: None) == 0
    assert measure_worker(study, target_runtime("litert-cpu"), "device-b", None, 1, 10, log=lambda _: None) == 2
    found = rows(study)
    assert sorted((r.machine, r.ratio) for r in found) == [("device-b", 0.5), ("device-b", 0.625), (here, 0.5),
                                                           (here, 0.625)]
    measured = run_cli("search-worker", "--study", location, "--role", "measure")  # nothing new for this machine
    assert measured.returncode == 0 and "recorded 0" in measured.stdout, measured.stderr[-2000:]



def test_a_candidate_queued_twice_runs_once(tmp_path):
    """Two workers that create one study at the same moment both queue every candidate."""
    from edgeseg.search.study import Outcome, join_study, open_study, rows, work

    location = str(tmp_path / "study.sqlite3")
    study = open_study(location, {"model": "scripted"}, [0.5, 0.75])
    study.enqueue_trial({"ratio": 0.5})  # what the other creator's skip_if_exists did not see
    seen = []

    def evaluate(ratio, trial):
        seen.append(ratio)
        return Outcome(1.0 - ratio, 0.9, 100, "scripted", "m", {})

    work(join_study(location), evaluate, seconds=60, log=lambda _: None)
    assert sorted(seen) == [0.5, 0.75] and sorted(r.ratio for r in rows(join_study(location))) == [0.5, 0.75]


def test_a_failed_trial_is_one_line_not_optunas_traceback(tmp_path, capsys):
    """Issue 24 item 5: Optuna printed 'Trial 0 failed ...' with the whole traceback."""
    from edgeseg.search.study import Outcome, join_study, open_study, work

    location = str(tmp_path / "study.sqlite3")
    open_study(location, {"model": "scripted"}, [0.5, 0.75])
    said = []

    def evaluate(ratio, trial):
        if ratio == 0.5:
            raise RuntimeError("LiteRT cannot run\nthis candidate")
        return Outcome(1.0, 0.9, 100, "scripted", "m", {})

    assert work(join_study(location), evaluate, seconds=60, log=said.append) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out and "failed with parameters" not in captured.err
    failed = [line for line in said if "failed" in line]
    assert failed == ["      trial 0 (ratio 0.500) failed: LiteRT cannot run this candidate"]
    import optuna

    assert optuna.logging.get_verbosity() == optuna.logging.WARNING  # restored after the trials


def test_a_failed_run_leaves_no_study_folder_unless_it_can_resume(tmp_path):
    from edgeseg.search.study import open_study
    from edgeseg.search.trial import _after_failure

    made = tmp_path / "out.study"
    location = str(made / "study.sqlite3")
    study = open_study(location, {"model": "scripted"}, [0.5])
    said = []
    _after_failure(study, location, made, made / "cache", said.append)
    assert not made.exists() and said == []  # nothing to resume from: removed, silently

    study = open_study(location, {"model": "scripted"}, [0.5])
    entry = made / "cache" / "k1"
    entry.mkdir(parents=True)
    (entry / "candidate.json").write_text("{}")  # one finished, cached candidate
    _after_failure(study, location, made, made / "cache", said.append)
    assert made.is_dir() and len(said) == 1 and "rerun the same command to resume" in said[0]

    kept = tmp_path / "given.sqlite3"  # a --study the user named, or one that existed before: never removed
    study = open_study(str(kept), {"model": "scripted"}, [0.5])
    _after_failure(study, str(kept), None, tmp_path / "nocache", said.append)
    assert kept.is_file()
