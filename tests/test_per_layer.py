"""Latency-aware per-layer pruning (issue 23, item 2): the choice on scripted latency tables, the
table's measurement and cache on a scripted clock, and per-space counts applied to a real model.
No timing: every latency here is scripted."""
from __future__ import annotations

import numpy as np
import pytest

from edgeseg.prune.latency_table import (LatencyTable, cache_key, cached_table, candidate_counts, measure_table,
                                         store_table)
from edgeseg.prune.per_layer import choose_counts, removal_cost, staircase

# A wide space whose int8 kernels pay per channel, and a narrow one whose latency is flat in its
# channels (the floor seen on AVX-512/AMX CPUs): only the wide one is worth cutting.
TABLE = {"wide": {64: 10.0, 48: 8.5, 32: 7.0, 16: 5.5, 8: 5.0},
         "narrow": {16: 10.0, 8: 9.95}}
UNIFORM = {"wide": np.ones(64), "narrow": np.ones(16)}


def test_only_steps_the_table_shows_are_taken():
    choice = choose_counts(TABLE, UNIFORM, base_ms=10.0, target_ms=6.0, noise_ms=0.1)
    assert choice.counts == {"wide": 16, "narrow": 16} and choice.reached
    assert choice.estimated_ms == pytest.approx(5.5)
    assert [s.after for s in choice.steps] == [48, 32, 16]


def test_an_unreachable_target_stops_when_no_step_saves_time():
    choice = choose_counts(TABLE, UNIFORM, base_ms=10.0, target_ms=1.0, noise_ms=0.1)
    assert not choice.reached and choice.counts == {"wide": 8, "narrow": 16}


def test_equal_savings_go_to_the_less_important_space():
    table = {"a": {32: 10.0, 16: 8.0}, "b": {32: 10.0, 16: 8.0}}
    importance = {"a": np.r_[np.ones(16), np.full(16, 0.9)], "b": np.r_[np.ones(16), np.full(16, 0.1)]}
    choice = choose_counts(table, importance, base_ms=10.0, target_ms=8.5)
    assert choice.counts == {"a": 32, "b": 16}


def test_a_target_already_met_removes_nothing():
    choice = choose_counts(TABLE, UNIFORM, base_ms=10.0, target_ms=10.0)
    assert choice.counts == {"wide": 64, "narrow": 16} and choice.steps == [] and choice.reached


def test_removal_cost_takes_the_weakest_channels_first():
    scores = np.array([4.0, 1.0, 3.0, 2.0])
    assert removal_cost(scores, 4, 2) == pytest.approx(3.0 / 10.0)
    assert removal_cost(scores, 4, 4) == 0.0


def test_staircase_skips_steps_inside_the_noise():
    assert staircase(TABLE["wide"], noise_ms=0.6) == [64, 48, 32, 16]
    assert staircase(TABLE["narrow"], noise_ms=0.1) == [16]


def test_candidate_counts_follow_the_simd_multiple():
    assert candidate_counts(64) == [64, 48, 32, 16, 8]
    assert candidate_counts(12) == [12, 8]
    assert candidate_counts(4) == [4]


def _scripted(tmp_path, passes):
    """A build that records what it built, and a timer that returns `passes` in turn."""
    built, runs, latencies = [], [], iter(passes)

    def build(counts):
        built.append(dict(counts))
        return tmp_path / f"m{len(built)}.tflite"

    def time_paths(paths):
        runs.append([built[int(p.stem[1:]) - 1] for p in paths])
        return next(latencies)

    return built, runs, build, time_paths


def test_the_table_is_coarse_first_and_refines_only_spaces_that_step(tmp_path):
    # pass 1: unpruned, wide 8, narrow 8, unpruned, flat 8, unpruned; only "wide" saves beyond the
    # copies' spread, so pass 2 times wide's other counts, under twice the load
    built, runs, build, time_paths = _scripted(tmp_path, [[10.0, 5.0, 9.95, 10.2, 9.9, 9.8],
                                                          [20.0, 17.0, 14.0, 20.0, 11.0, 20.0]])
    table = measure_table({"wide": 64, "narrow": 12, "flat": 32}, build, time_paths, "litert-cpu", "probe", 2)
    assert runs[0] == [{}, {"wide": 8}, {"narrow": 8}, {}, {"flat": 8}, {}]
    assert runs[1] == [{}, {"wide": 48}, {"wide": 32}, {}, {"wide": 16}, {}]
    assert len(built) == 7 and len(runs) == 2  # 1 unpruned + 3 coarse + 3 refined, not 1 + 4 + 1 + 3
    assert table.base_ms == pytest.approx(15.0)
    assert table.noise_ms == pytest.approx(2 * 0.04 * 15.0)
    assert table.rows["wide"] == pytest.approx({64: 15.0, 48: 12.75, 32: 10.5, 16: 8.25, 8: 7.5})
    assert table.rows["narrow"] == pytest.approx({12: 15.0, 8: 14.925})
    assert table.rows["flat"] == pytest.approx({32: 15.0, 8: 14.85})
    assert staircase(table.rows["flat"], table.noise_ms) == [32]


def test_a_table_where_nothing_steps_takes_one_pass(tmp_path):
    built, runs, build, time_paths = _scripted(tmp_path, [[10.0, 10.1, 9.9, 10.0]])
    table = measure_table({"narrow": 12, "tiny": 4}, build, time_paths, "litert-cpu", "probe", 2)
    assert runs == [[{}, {}, {"narrow": 8}, {}]]  # "tiny" has no count below one SIMD multiple
    assert list(table.rows) == ["narrow"] and table.rows["narrow"] == pytest.approx({12: 10.0, 8: 9.9})
    assert staircase(table.rows["narrow"], table.noise_ms) == [12]


def test_the_cache_keeps_tables_per_runtime_and_machine(tmp_path):
    cache = tmp_path / "latency.json"
    table = LatencyTable("litert-cpu", "probe", 2, 10.0, 0.1, {"wide": {64: 10.0, 32: 7.0}})
    key = cache_key("abc", "litert-cpu", "probe", 2)
    assert cached_table(cache, key) is None
    store_table(cache, key, table)
    assert cached_table(cache, key) == table
    assert cached_table(cache, cache_key("abc", "ort-cpu", "probe", 2)) is None
    cache.write_text("not json")
    assert cached_table(cache, key) is None


def test_per_space_counts_prune_a_real_model():
    from edgeseg.config import ModelConfig
    from edgeseg.models.registry import build_model
    from edgeseg.prune.channels import channel_spaces, prune_channels

    model = build_model(ModelConfig(arch="unet", preset="tiny"))
    spaces = channel_spaces(model)
    first, second = list(spaces)[:2]
    result = prune_channels(model, 0.0, counts={first: 2})
    assert result.kept[first] == (2, spaces[first])
    assert result.kept[second] == (spaces[second], spaces[second])
    x = np.random.default_rng(0).random((1,) + tuple(model.input.shape[1:]), dtype="float32")
    assert result.model(x).shape == model(x).shape
