"""Collapse detection, the one threshold convention, and judging against the user's original model."""
import numpy as np
import pytest

from edgeseg.config import THRESHOLD_RULE, PreprocessSpec
from edgeseg.errors import DataError
from edgeseg.metrics import collapse_facts, collapse_reason, foreground, probabilities_to_labels
from edgeseg.metrics.collapse import CollapseAccumulator
from edgeseg.scoring.verify import observed, original_problem


def healthy(seed=0, shape=(2, 16, 16, 1)):
    rng = np.random.default_rng(seed)
    truth = rng.random(shape) > 0.6
    return np.where(truth, rng.uniform(0.8, 1.0, shape), rng.uniform(0.0, 0.2, shape)).astype(np.float32)


def test_a_healthy_map_is_not_collapsed():
    facts = collapse_facts(healthy())
    assert facts["collapse_near_share"] == 0.0
    assert collapse_reason(facts) is None


def test_a_map_that_never_clears_0_5006_is_refused():
    """The attention U-Net of issue 24: most pixels far below, the top stuck at 0.5006."""
    probs = healthy() * 0.4  # background at most 0.4
    probs[0, :4, :4] = 0.5006
    reason = collapse_reason(collapse_facts(probs))
    assert reason is not None and "margin is gone" in reason and "0.5006" in reason


def test_most_pixels_within_one_int8_step_is_refused():
    probs = np.full((1, 10, 10, 1), 0.5, np.float32)
    probs[0, 0, :3, 0] = [0.0, 1.0, 0.9]
    reason = collapse_reason(collapse_facts(probs))
    assert reason.startswith("collapsed: 97% of pixels within one int8 step of 0.5")


def test_foreground_made_of_exact_threshold_pixels_is_refused():
    probs = healthy()
    on_threshold = np.zeros(probs.shape, bool)
    on_threshold[0, 8:, :] = True  # 25% of the pixels sit at exactly 0.5 (int8's level)
    probs[on_threshold] = 0.5
    facts = collapse_facts(probs)
    assert facts["collapse_rule_agreement"] < 0.9
    assert "exactly at 0.5" in collapse_reason(facts)


def test_the_threshold_convention_is_strictly_above_and_recorded_in_the_spec():
    probs = np.array([[[[0.5], [0.5001], [0.4999]]]], np.float32)
    assert probabilities_to_labels(probs, 0.5).tolist() == [[[0, 1, 0]]]
    assert foreground(probs, 0.5).sum() == 1
    spec = PreprocessSpec(8, 8)
    assert spec.to_dict()["threshold_rule"] == THRESHOLD_RULE == "p > threshold"
    old = {k: v for k, v in spec.to_dict().items() if k != "threshold_rule"}
    assert PreprocessSpec.from_dict(old) == spec  # specs written before the field read the same
    with pytest.raises(DataError, match="threshold_rule"):
        PreprocessSpec.from_dict({**spec.to_dict(), "threshold_rule": "p >= threshold"})


def test_streamed_facts_equal_whole_facts_and_softmax_has_none():
    probs = healthy(shape=(4, 8, 8, 1))
    streamed = CollapseAccumulator()
    for batch in np.split(probs, 4):
        streamed.update(batch)
    assert streamed.result() == collapse_facts(probs)
    assert collapse_facts(np.full((1, 4, 4, 3), 1 / 3)) == {}


def test_artifacts_are_judged_against_the_original_model():
    images = np.random.default_rng(1).random((4, 8, 8, 1)).astype(np.float32)
    original = lambda x: np.where(x > 0.5, 0.95, 0.05).astype(np.float32)  # noqa: E731
    follows = lambda x: np.clip(original(x) + 0.01, 0, 1)  # noqa: E731
    leaves = lambda x: np.where(x > 0.8, 0.95, 0.05).astype(np.float32)  # noqa: E731
    for predict, refused in ((follows, False), (leaves, True)):
        run, facts = observed(predict, 0.5, original)
        run(images)
        problem = original_problem(facts(), 0.9, 0.05)
        assert (problem is not None) == refused
        if refused:
            assert "original float model" in problem


def test_the_budget_refuses_a_collapsed_artifact_whatever_its_dice():
    from edgeseg.scoring.budget import Budget

    budget = Budget(0.94, 0.05)
    agreeing = {"dice": 0.9372, "mask_agreement": 1.0, "mean_abs_diff": 0.0}
    probs = healthy() * 0.4
    probs[0, :4, :4] = 0.5006
    ok, reason = budget.judge(agreeing | collapse_facts(probs))
    assert not ok and reason.startswith("collapsed:")
    assert budget.judge(agreeing | collapse_facts(healthy()))[0]
    ok, reason = budget.judge(agreeing | {"original_mask_agreement": 0.5, "original_mean_abs_diff": 0.01})
    assert not ok and "original float model" in reason


def test_a_pruned_float_source_is_judged_against_the_original_before_any_artifact():
    from edgeseg.config import DataConfig
    from edgeseg.data.dataset import load_splits
    from edgeseg.scoring.verify import float_source_problem

    _, val = load_splits(DataConfig(synthetic_train=2, synthetic_val=4), PreprocessSpec(16, 16))
    original = lambda x: np.where(x[..., :1] > 0.5, 0.95, 0.05).astype(np.float32)  # noqa: E731
    collapsed = lambda x: np.minimum(original(x), 0.5006).astype(np.float32)  # noqa: E731
    facts, refused = float_source_problem(collapsed, original, val, 2, 0.9, 0.05)
    assert refused.startswith("collapsed") and facts["collapse_max_prob"] == pytest.approx(0.5006)
    assert float_source_problem(original, original, val, 2, 0.9, 0.05)[1] is None
