"""Gradual channel pruning and the Taylor ranking: mechanics on tiny models."""
from __future__ import annotations

import numpy as np
import pytest

from edgeseg.prune.gradual import merged_result, round_ratios
from edgeseg.training.finetune import FinetuneResult


@pytest.mark.parametrize("ratio,rounds", [(0.5, 1), (0.5, 3), (0.75, 2), (0.8, 4)])
def test_rounds_compound_to_the_requested_ratio(ratio, rounds):
    shares = round_ratios(ratio, rounds)
    assert len(shares) == rounds
    assert np.prod([1 - s for s in shares]) == pytest.approx(1 - ratio)


def test_merged_result_puts_every_round_on_one_step_axis():
    first = FinetuneResult(50, [(25, 0.8), (50, 0.85)], 50, 0.85, "max", 10.0)
    last = FinetuneResult(40, [(25, 0.9), (40, 0.88)], 25, 0.9, "within the target", 5.0)
    merged = merged_result([first, last])
    assert merged.steps == 90 and merged.dice_curve == [(25, 0.8), (50, 0.85), (75, 0.9), (90, 0.88)]
    assert (merged.best_step, merged.best_dice, merged.seconds) == (75, 0.9, 15.0)


@pytest.fixture(scope="module")
def tiny(tiny_model_path):
    from edgeseg.config import DataConfig
    from edgeseg.data.dataset import load_splits
    from edgeseg.models.io import load_model

    model, spec = load_model(tiny_model_path)
    train, val = load_splits(DataConfig(synthetic_train=16, synthetic_val=4), spec)
    return model, train, val


@pytest.mark.slow
def test_taylor_scores_rank_a_dead_filter_last(tiny):
    from edgeseg.prune.magnitude import copy_model
    from edgeseg.prune.ranking import taylor_scores

    model, train, _ = tiny
    model = copy_model(model)
    conv = next(layer for layer in model.layers if type(layer).__name__ == "Conv2D")
    weights = conv.get_weights()
    for w in weights:  # kernel (and bias): filter 1 outputs zero everywhere, removing it changes nothing
        w[..., 1] = 0.0
    conv.set_weights(weights)
    kernel = weights[0]
    scores = taylor_scores(model, train, classes=1, batch_size=8, max_images=8)
    assert scores[conv.name].shape == (kernel.shape[-1],) and (scores[conv.name] >= 0).all()
    assert scores[conv.name][1] == 0.0 and scores[conv.name].max() > 0


@pytest.mark.slow
def test_gradual_pruning_reaches_the_ratio_and_counts_every_round(tiny):
    from edgeseg.prune.gradual import prune_channels_and_finetune
    from edgeseg.training.finetune import FinetuneBudget

    model, train, val = tiny
    budget = FinetuneBudget(max_steps=4, min_steps=0, eval_every=2)
    result = prune_channels_and_finetune(model, train, val, 0.5, budget, 8, 1, verbose=0, rounds=2,
                                         criterion="taylor")
    assert result.finetune.steps == 4 and [s for s, _ in result.finetune.dice_curve] == [2, 4]
    before = {layer.name: layer.filters for layer in model.layers if type(layer).__name__ == "Conv2D"}
    for name, (after, total) in result.kept.items():
        assert total == before[name]
        assert after == total or abs(after - total / 2) <= 1  # frozen spaces keep all filters


def test_kept_count_rounds_to_simd_multiples_within_the_space():
    from edgeseg.prune.channels import kept_count

    assert kept_count(32, 0.8125) == 6
    assert kept_count(32, 0.8125, multiple=8) == 8 and kept_count(256, 0.8125, multiple=8) == 48
    assert kept_count(64, 0.8125, multiple=16) == 16 and kept_count(4, 0.5, multiple=8) == 4
