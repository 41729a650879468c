"""Fine-tuning mechanics: step counting, the learning-rate shape, early stop, the time budget,
and the distillation loss on known tensors. No figures: tiny models and a few steps."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from edgeseg.training.finetune import EarlyStop, FinetuneBudget, learning_rate_at


def test_learning_rate_warms_up_then_decays_to_zero():
    total, peak = 200, 1e-3
    rates = [learning_rate_at(s, peak, total, warmup_fraction=0.05) for s in range(total + 1)]
    warmup = 10
    assert rates[0] == pytest.approx(peak / warmup)
    assert all(a < b for a, b in zip(rates[:warmup - 1], rates[1:warmup]))  # rising
    assert rates[warmup - 1] == pytest.approx(peak) and rates[warmup] == pytest.approx(peak)
    assert all(a >= b for a, b in zip(rates[warmup:], rates[warmup + 1:]))  # then never rising
    assert rates[total] == pytest.approx(0.0, abs=1e-12)
    middle = warmup + (total - warmup) // 2
    assert rates[middle] == pytest.approx(peak / 2, rel=0.02)  # cosine: half way, half the peak


def test_early_stop_needs_the_target_the_floor_and_a_plateau():
    stop = EarlyStop(target=0.90, min_steps=50, patience=2)
    script = [(25, 0.80), (50, 0.91), (75, 0.92), (100, 0.915), (125, 0.91)]
    decisions = []
    for step, dice in script:
        stop.update(step, dice)
        decisions.append(stop.should_stop(step))
    assert decisions == [False, False, False, False, True]
    assert (stop.best_step, stop.best) == (75, 0.92)


def test_early_stop_never_fires_below_the_target_or_before_the_floor():
    below = EarlyStop(target=0.95, min_steps=0, patience=1)
    early = EarlyStop(target=0.5, min_steps=1000, patience=1)
    for step, dice in [(10, 0.9), (20, 0.8), (30, 0.7)]:
        below.update(step, dice)
        early.update(step, dice)
        assert not below.should_stop(step) and not early.should_stop(step)
    assert not EarlyStop(None, 0, 1).should_stop(10)


def test_budget_rejects_a_floor_above_the_maximum():
    with pytest.raises(ValueError):
        FinetuneBudget(max_steps=10, min_steps=20)


@pytest.fixture(scope="module")
def tiny(tiny_model_path):
    from edgeseg.config import DataConfig
    from edgeseg.data.dataset import load_splits
    from edgeseg.models.io import load_model

    model, spec = load_model(tiny_model_path)
    train, val = load_splits(DataConfig(synthetic_train=16, synthetic_val=4), spec)
    return model, spec, train, val


def _scripted_dice(monkeypatch, values):
    import edgeseg.scoring.predictors as evaluate

    scores = iter(values)
    monkeypatch.setattr(evaluate, "evaluate_predictor", lambda *a, **k: {"dice": next(scores)})


@pytest.mark.slow
def test_finetune_counts_steps_and_evaluates_on_schedule(tiny, monkeypatch):
    from edgeseg.prune.magnitude import copy_model
    from edgeseg.training.finetune import finetune

    model, _, train, val = tiny
    _scripted_dice(monkeypatch, [0.5, 0.6, 0.7])
    result = finetune(copy_model(model), train, val, FinetuneBudget(max_steps=6, min_steps=0, eval_every=2),
                      classes=1, batch_size=4, target_dice=0.99, verbose=0)
    assert result.steps == 6
    assert result.dice_curve == [(2, 0.5), (4, 0.6), (6, 0.7)]
    assert (result.best_step, result.best_dice) == (6, 0.7)
    assert "maximum of 6 steps" in result.stopped_because


@pytest.mark.slow
def test_finetune_stops_early_and_keeps_the_best_weights(tiny, monkeypatch):
    from edgeseg.prune.magnitude import copy_model
    from edgeseg.training.finetune import finetune

    model, _, train, val = tiny
    tuned = copy_model(model)
    snapshots = []
    real_get = type(tuned).get_weights

    def recording_get_weights(self):
        weights = real_get(self)
        snapshots.append(weights)
        return weights

    monkeypatch.setattr(type(tuned), "get_weights", recording_get_weights)
    _scripted_dice(monkeypatch, [0.95, 0.97, 0.96, 0.96, 0.5, 0.5])
    budget = FinetuneBudget(max_steps=12, min_steps=2, eval_every=2, patience=2)
    result = finetune(tuned, train, val, budget, classes=1, batch_size=4, target_dice=0.9, verbose=0)
    assert result.steps == 8 and result.best_step == 4
    assert "within the target" in result.stopped_because
    kept = snapshots[-1]  # the last snapshot taken is the best one (step 4)
    assert all(np.array_equal(a, b) for a, b in zip(kept, real_get(tuned)))


@pytest.mark.slow
def test_finetune_gives_up_a_hopeless_run_and_says_why(tiny, monkeypatch):
    from edgeseg.prune.magnitude import copy_model
    from edgeseg.training.finetune import finetune

    model, _, train, val = tiny
    _scripted_dice(monkeypatch, [0.5] * 8)
    budget = FinetuneBudget(max_steps=16, min_steps=0, eval_every=2, patience=2, give_up_hopeless=True)
    result = finetune(copy_model(model), train, val, budget, classes=1, batch_size=4, target_dice=0.9, verbose=0)
    assert 8 <= result.steps < 16  # not before half the budget, and not to its end
    assert result.stopped_because.startswith("hopeless: best Dice 0.5000") and "target 0.9000" in result.stopped_because
    _scripted_dice(monkeypatch, [0.5] * 8)  # an explicit ratio's budget (not the search's) is spent to its end
    spent = finetune(copy_model(model), train, val, dataclasses.replace(budget, give_up_hopeless=False), classes=1,
                     batch_size=4, target_dice=0.9, verbose=0)
    assert spent.steps == 16 and not spent.stopped_because.startswith("hopeless")


def test_only_the_search_gives_up_hopeless_fine_tuning():
    from edgeseg.config import CompressConfig
    from edgeseg.prune.tuning import pruning_budget

    assert pruning_budget(CompressConfig(), search=True).give_up_hopeless
    assert not pruning_budget(CompressConfig()).give_up_hopeless


@pytest.mark.slow
def test_finetune_stops_at_the_time_budget(tiny):
    from edgeseg.prune.magnitude import copy_model
    from edgeseg.training.finetune import finetune

    model, _, train, val = tiny
    budget = FinetuneBudget(max_steps=10_000, min_steps=0, max_seconds=1e-6, eval_every=1000)
    result = finetune(copy_model(model), train, val, budget, classes=1, batch_size=4, verbose=0)
    assert result.steps == 1 and len(result.dice_curve) == 1
    assert "time budget" in result.stopped_because


def test_distillation_loss_on_known_tensors():
    from edgeseg.backend import tf
    from edgeseg.training.distill import distillation_loss

    t, s = tf().constant([[[[0.5]]]]), tf().constant([[[[0.25]]]])
    assert float(distillation_loss(s, t)) == pytest.approx(0.5 * math.log(4 / 3), rel=1e-5)
    assert float(distillation_loss(t, t)) == pytest.approx(0.0, abs=1e-6)
    teacher = tf().constant([[[[0.7, 0.2, 0.1]]]])
    student = tf().constant([[[[0.4, 0.4, 0.2]]]])
    expected = 0.7 * math.log(0.7 / 0.4) + 0.2 * math.log(0.2 / 0.4) + 0.1 * math.log(0.1 / 0.2)
    assert float(distillation_loss(student, teacher)) == pytest.approx(expected, rel=1e-5)


def test_training_loss_mixes_task_and_teacher_terms():
    from edgeseg.backend import keras, tf
    from edgeseg.training.distill import training_loss
    from edgeseg.training.losses import segmentation_loss

    k = keras()
    inputs = k.Input((8, 8, 1))
    student = k.Model(inputs, k.layers.Conv2D(1, 1, activation="sigmoid")(inputs))
    teacher = k.Model(inputs, k.layers.Conv2D(1, 1, activation="sigmoid", bias_initializer="ones")(inputs))
    images = tf().constant(np.random.default_rng(0).random((2, 8, 8, 1)), tf().float32)
    labels = tf().constant((np.random.default_rng(1).random((2, 8, 8, 1)) > 0.5).astype(np.float32))
    task = float(segmentation_loss(1)(labels, student(images)))
    assert float(training_loss(1)(student, images, labels)) == pytest.approx(task, rel=1e-5)
    assert float(training_loss(1, teacher, 0.0)(student, images, labels)) == pytest.approx(task, rel=1e-5)
    assert float(training_loss(1, student, 1.0)(student, images, labels)) == pytest.approx(0.0, abs=1e-6)
    half = float(training_loss(1, teacher, 0.5)(student, images, labels))
    from edgeseg.training.distill import distillation_loss
    kl = float(distillation_loss(student(images), teacher(images)))
    assert half == pytest.approx(0.5 * task + 0.5 * kl, rel=1e-5)
    with_unlabeled = float(training_loss(1, teacher, 0.5)(student, images, labels, images))
    assert with_unlabeled == pytest.approx(half + 0.5 * kl, rel=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("preserve", [False, True])
def test_quantization_aware_training_runs_through_finetune(tiny, preserve):
    from edgeseg.quantize.qat import quantization_aware

    model, spec, train, val = tiny
    budget = FinetuneBudget(max_steps=4, min_steps=0, eval_every=2)
    qat_model = quantization_aware(model, train, val, budget, 4, 1, preserve, verbose=0)
    images, _ = val.batch([0, 1])
    assert qat_model.predict(images, verbose=0).shape == (2, spec.height, spec.width, 1)


def test_result_record_is_valid_json_when_nothing_was_kept():
    import json

    from edgeseg.training.finetune import FinetuneResult

    record = FinetuneResult(3, [(3, 0.5)], best_dice=-math.inf, stopped_because="time").to_dict()
    assert record["best_dice"] is None and record["best_step"] is None
    json.loads(json.dumps(record, allow_nan=False))


def test_unlabeled_images_come_in_normalized_batches_and_bad_folders_fail_clearly(tmp_path):
    from PIL import Image

    from edgeseg.config import PreprocessSpec
    from edgeseg.data.unlabeled import scan_unlabeled, unlabeled_batches
    from edgeseg.errors import DataError

    for n in range(3):
        Image.fromarray(np.full((20, 24, 3), 60 * n, np.uint8)).save(tmp_path / f"frame{n}.png")
    spec = PreprocessSpec(16, 16, channels=1)
    batches = unlabeled_batches(tmp_path, spec, batch_size=2, seed=0)
    sizes = [len(next(batches)) for _ in range(4)]
    assert sizes == [2, 1, 2, 1]  # every pass covers every image once
    batch = next(batches)
    assert batch.shape[1:] == (16, 16, 1) and batch.dtype == np.float32 and 0.0 <= batch.min() <= batch.max() <= 1.0
    with pytest.raises(DataError, match="not found"):
        scan_unlabeled(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        scan_unlabeled(tmp_path / "empty")
