"""--prune auto's choice on scripted latency/Dice tables: no training, no timing."""
from __future__ import annotations

import pytest

from edgeseg.compress.search import Candidate, choose, next_ratio, run_search, search_info

# ratio -> (int8 Dice, p50 ms): deployable up to 0.75 with a floor of 0.90; 0.6875 is the
# fastest deployable one (SIMD-friendly widths can make a lower ratio faster).
TABLE = {0.5: (0.95, 4.0), 0.625: (0.93, 3.0), 0.6875: (0.92, 2.4), 0.75: (0.91, 2.6), 0.875: (0.50, 1.5),
         0.8125: (0.85, 2.0), 0.25: (0.96, 6.0), 0.375: (0.95, 5.0)}
FLOOR = 0.90


def scripted(ratio: float) -> Candidate:
    dice, p50 = TABLE[ratio]
    return Candidate(ratio, dice, dice >= FLOOR, p50_ms=p50)


def test_bisection_walks_towards_the_highest_deployable_ratio():
    tried = run_search(scripted, trials=10, seconds=1e9, log=lambda _: None)
    ratios = [c.ratio for c in tried]
    assert ratios == [0.5, 0.75, 0.875, 0.8125]  # up on a pass, down on a miss, until no grid point is left
    assert choose(tried).ratio == 0.75


def test_choice_is_the_fastest_deployable_not_the_highest_ratio():
    table = [scripted(r) for r in (0.5, 0.6875, 0.75, 0.875)]
    assert choose(table).ratio == 0.6875


def test_choice_ignores_fast_candidates_outside_the_budget():
    table = [scripted(r) for r in (0.5, 0.875, 0.8125)]
    assert choose(table).ratio == 0.5
    assert choose([scripted(0.875)]) is None


def test_trials_and_time_bound_the_search():
    assert len(run_search(scripted, trials=2, seconds=1e9, log=lambda _: None)) == 2
    ticks = iter(range(0, 1000, 100))
    tried = run_search(scripted, trials=10, seconds=150, log=lambda _: None, clock=lambda: next(ticks))
    assert len(tried) == 2  # the first always runs; no new candidate after the time budget


def test_next_ratio_stops_when_the_interval_is_exhausted():
    tried = [Candidate(0.5, 0.9, True), Candidate(0.5625, 0.8, False)]
    assert next_ratio(tried) is None
    assert next_ratio([]) == 0.5


def test_search_record_lists_every_candidate_and_the_speedup():
    table = [scripted(r) for r in (0.5, 0.6875, 0.8125)]
    winner = choose(table)
    info = search_info(table, winner, int8_p50=6.0, target="litert-cpu", threads=2, seconds=12.0)
    assert info["winner"] == 0.6875 and info["speedup_vs_int8"] == pytest.approx(2.5)
    assert [c["ratio"] for c in info["candidates"]] == [0.5, 0.6875, 0.8125]
    assert {"ratio", "gflops", "parameters", "p50_ms", "dice", "deployable"} <= info["candidates"][0].keys()


@pytest.mark.slow
def test_compress_prune_auto_reports_every_candidate(tiny_model_path, tmp_path):
    import json

    from conftest import run_cli

    out = tmp_path / "out"
    result = run_cli("compress", str(tiny_model_path), "--prune", "auto", "--search-engine", "bisection",
                     "--search-trials", "2",
                     "--finetune-steps", "4", "--data", "synthetic", "--synthetic-train", "32", "--synthetic-val", "8",
                     "--calibration-samples", "8", "--out", str(out))
    assert result.returncode in (0, 3), result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    search = report["search"]
    assert len(search["candidates"]) == 2 and search["target"] == "litert-cpu"
    assert all((out / c["path"]).is_file() and c["p50_ms"] > 0 for c in search["candidates"])
    assert "Channel-ratio search (--prune auto)" in (out / "report.md").read_text()
    assert search["plot"] is None or (out / search["plot"]).is_file()
    rows = {a["path"] for a in report["artifacts"]}
    if search["winner"] is not None:  # the winner goes through the usual int8 export and guard
        assert report["channels"]["ratio"] == search["winner"]
        assert "model_channels_int8.tflite" in rows
    else:
        assert report["channels"] is None and "model_channels_int8.tflite" not in rows
