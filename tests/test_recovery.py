"""Recovery from channel pruning: feature distillation and the recovery recipes, mechanics on
tiny models (the figures are benchmarks/recovery.py's)."""
from __future__ import annotations

import numpy as np
import pytest


def _tiny(dropout: float = 0.0):
    """No BatchNorm: an untrained model's statistics would make training and inference mode differ."""
    from edgeseg.config import ModelConfig
    from edgeseg.models.registry import build_model

    return build_model(ModelConfig(preset="tiny", batchnorm=False, dropout=dropout))


@pytest.fixture(scope="module")
def untrained():
    return _tiny()


def test_block_outputs_are_the_layers_before_a_change_of_resolution():
    from edgeseg.prune.distill_features import block_outputs

    model = _tiny(dropout=0.5)  # the seed preset's bottleneck ends in dropout
    names = block_outputs(model)
    assert names, "a U-Net has stages"

    def consumers(layer):
        return [n.outbound_layer for n in layer._outbound_nodes]  # noqa: SLF001

    for name in names:
        layer = model.get_layer(name)
        after = [c for c in consumers(layer) if type(c).__name__ == "Dropout"]
        ends = consumers(after[0]) if after else consumers(layer)  # tapped before its dropout
        assert any(c.output.shape[1:3] != layer.output.shape[1:3] for c in ends)
    assert model.layers[-1].name not in names and model.layers[0].name not in names
    assert any(type(layer).__name__ == "Dropout" for layer in model.layers)
    assert not any(type(model.get_layer(name)).__name__ == "Dropout" for name in names)


def test_feature_loss_is_zero_on_an_unpruned_copy_and_counts_in_the_loss(untrained):
    from edgeseg.prune.channels import prune_channels
    from edgeseg.prune.distill_features import FeatureDistillation
    from edgeseg.prune.magnitude import copy_model

    rng = np.random.default_rng(0)
    images = rng.random((4, 32, 32, 1), dtype=np.float32)
    labels = (rng.random((4, 32, 32, 1)) > 0.5).astype(np.float32)
    same = FeatureDistillation(copy_model(untrained), untrained, 1.0, images)
    student_features = same.student_view(images, training=True)[1:]
    teacher_features = same.teacher_view(images)[1:]
    assert float(same.feature_loss(student_features, teacher_features)) == pytest.approx(0.0, abs=1e-4)

    pruned = prune_channels(untrained, 0.5).model
    losses = []
    for weight in (1.0, 2.0):
        recovery = FeatureDistillation(pruned, untrained, weight, images)
        assert recovery.layers and len(recovery.variables) == len(recovery.layers)
        losses.append(float(recovery.make_loss(1, untrained, 0.5)(pruned, images, labels)))
    # the same student, batch and output terms: the difference is the feature term alone, and it is > 0
    feature_term = losses[1] - losses[0]
    assert feature_term > 1e-4 and losses[0] > feature_term


def test_no_feature_recovery_without_weight_or_teacher(untrained):
    from edgeseg.config import DataConfig
    from edgeseg.data.dataset import load_splits
    from edgeseg.models.registry import spec_for
    from edgeseg.config import ModelConfig
    from edgeseg.prune.distill_features import feature_recovery

    train, _ = load_splits(DataConfig(synthetic_train=8, synthetic_val=2), spec_for(ModelConfig(preset="tiny")))
    assert feature_recovery(untrained, 0.0, train, 4, untrained) is None
    assert feature_recovery(untrained, 1.0, train, 4, None) is None
    assert feature_recovery(untrained, 1.0, train, 4, untrained) is not None


def _synthetic(count: int = 8):
    from edgeseg.config import DataConfig, ModelConfig
    from edgeseg.data.dataset import load_splits
    from edgeseg.models.registry import spec_for

    return load_splits(DataConfig(synthetic_train=count, synthetic_val=2), spec_for(ModelConfig(preset="tiny")))


def test_rounds_split_the_steps_and_each_recovers_with_the_feature_loss(untrained, monkeypatch):
    from edgeseg.prune import gradual
    from edgeseg.training.finetune import FinetuneBudget, FinetuneResult

    train, val = _synthetic()
    calls = []

    def fake_finetune(model, train, val, budget, *args, **kwargs):  # records the wiring, trains nothing
        calls.append((budget.max_steps, kwargs.get("recovery_loss"), kwargs.get("teacher"), model))
        return FinetuneResult(budget.max_steps, [(budget.max_steps, 0.5)], budget.max_steps, 0.5, "max")

    monkeypatch.setattr(gradual, "finetune", fake_finetune)
    result = gradual.prune_channels_and_finetune(untrained, train, val, 0.75, FinetuneBudget(6, 0), 8, 1, verbose=0,
                                                 rounds=2, criterion="l1", features=1.0, teacher=untrained,
                                                 distill_weight=0.5)
    assert [steps for steps, *_ in calls] == [3, 3] and result.finetune.steps == 6
    for _, loss, teacher, student in calls:
        assert teacher is untrained and loss is not None and loss.layers
        assert loss.student_view.get_layer(student.layers[-1].name) is student.layers[-1]  # trains the student
    assert calls[0][3].count_params() > calls[1][3].count_params()  # rebuilt on each round's smaller student
    calls.clear()
    gradual.prune_channels_and_finetune(untrained, train, val, 0.75, FinetuneBudget(6, 0), 8, 1, verbose=0,
                                        criterion="l1", teacher=untrained, distill_weight=0.5)
    assert [(steps, loss) for steps, loss, *_ in calls] == [(6, None)]  # features off: today's loss
    calls.clear()
    gradual.prune_channels_and_finetune(untrained, train, val, 0.75, FinetuneBudget(6, 0), 8, 1, verbose=0,
                                        rounds=2, criterion="l1", step_scale=2.0)
    assert [steps for steps, *_ in calls] == [4, 4]  # 1.5x the budget for 75% removed, split over the rounds


@pytest.mark.parametrize("ratio,most,expected", [(0.25, 2.0, 300), (0.5, 2.0, 300), (0.75, 2.0, 450),
                                                 (0.875, 2.0, 525), (0.95, 1.5, 450), (0.875, 1.0, 300)])
def test_step_budget_grows_with_the_share_removed(ratio, most, expected):
    from edgeseg.prune.progressive import scaled_budget
    from edgeseg.training.finetune import FinetuneBudget

    budget = FinetuneBudget(300, 100, max_seconds=60.0)
    scaled = scaled_budget(budget, ratio, most)
    assert (scaled.max_steps, scaled.min_steps, scaled.eval_every) == (expected, 100, budget.eval_every)
    assert scaled.max_seconds == pytest.approx(60.0 * expected / 300)


@pytest.mark.slow
def test_finetune_trains_the_adapters_beside_the_student(untrained):
    from edgeseg.prune.channels import prune_channels
    from edgeseg.prune.distill_features import feature_recovery
    from edgeseg.training.finetune import FinetuneBudget, finetune

    train, val = _synthetic()
    student = prune_channels(untrained, 0.5).model
    recovery = feature_recovery(student, 1.0, train, 4, untrained)
    before = [v.numpy().copy() for v in recovery.variables]
    weights = [w.copy() for w in student.get_weights()]
    finetune(student, train, val, FinetuneBudget(2, 0, eval_every=2), 1, 4, verbose=0, teacher=untrained,
             distill_weight=0.5, recovery_loss=recovery)
    assert any(not np.allclose(b, v.numpy()) for b, v in zip(before, recovery.variables))
    assert any(not np.allclose(a, b) for a, b in zip(weights, student.get_weights()))


def test_the_scaled_step_budget_is_channel_pruning_recovery_by_default():
    from edgeseg.config import CompressConfig
    from edgeseg.errors import UsageError
    from edgeseg.prune.tuning import distill_kwargs

    teacher = object()
    assert CompressConfig().finetune_scale == 2.0
    assert distill_kwargs(CompressConfig(prune="channels"), teacher, None) == {"step_scale": 2.0}
    assert distill_kwargs(CompressConfig(prune="auto", distill=0.5), teacher, None) == {
        "teacher": teacher, "distill_weight": 0.5, "unlabeled": None, "step_scale": 2.0}
    assert distill_kwargs(CompressConfig(prune="channels", finetune_scale=1.0), teacher, None) == {}
    assert distill_kwargs(CompressConfig(prune="magnitude"), teacher, None) == {}  # tfmot's prune takes no scale
    with pytest.raises(UsageError, match="--finetune-scale"):
        CompressConfig(prune="channels", finetune_scale=0.5)
