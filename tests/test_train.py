import numpy as np
import pytest

from edgeseg.config import DataConfig
from edgeseg.data.dataset import load_splits
from edgeseg.scoring.predictors import evaluate_predictor, keras_predictor
from edgeseg.models.io import load_model

pytestmark = pytest.mark.slow  # every test here trains, converts or compresses


def test_tiny_unet_learns_the_synthetic_task(tiny_model_path):
    """A real learning check: the saved best checkpoint, reloaded with tf_keras, segments
    validation images it never saw."""
    model, spec = load_model(tiny_model_path)
    assert (spec.height, spec.width, spec.normalize, spec.classes) == (32, 32, "0-1", 1)
    _, val = load_splits(DataConfig(synthetic_train=1, synthetic_val=32), spec)
    scores = evaluate_predictor(keras_predictor(model), val)
    assert scores["dice"] >= 0.8, scores


def test_training_is_reproducible_with_a_seed(tmp_path):
    from edgeseg.config import ModelConfig, TrainConfig
    from edgeseg.training import train

    config = TrainConfig(model=ModelConfig(preset="tiny", base_filters=2), epochs=1, batch_size=8, verbose=0,
                         data=DataConfig(synthetic_train=16, synthetic_val=8))
    a = train(config, tmp_path / "a.keras")
    b = train(config, tmp_path / "b.keras")
    wa, wb = load_model(a.path)[0].get_weights(), load_model(b.path)[0].get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(wa, wb))
    assert a.val_scores == b.val_scores


def test_multiclass_training_reports_per_class_scores(tmp_path):
    from edgeseg.config import ModelConfig, TrainConfig
    from edgeseg.training import train

    config = TrainConfig(model=ModelConfig(preset="tiny", classes=3), epochs=1, batch_size=8, verbose=0,
                         data=DataConfig(synthetic_train=16, synthetic_val=8, balance="weight"))
    result = train(config, tmp_path / "multi.keras")
    assert len(result.val_scores["dice_per_class"]) == 2
    assert load_model(result.path)[1].classes == 3


def test_the_loop_counts_steps_sets_the_rate_and_stops_on_the_smoothed_score(tmp_path):
    """Real fit, scripted validation scores: the stop follows the median, not one spike; the
    best raw score's weights are the ones kept; the learning rate follows the plan each step."""
    from edgeseg.backend import keras
    from edgeseg.config import ModelConfig, PreprocessSpec, TrainConfig
    from edgeseg.data.dataset import load_splits
    from edgeseg.models.registry import build_model
    from edgeseg.training.loop import _validation_callback, batch_sequence, fit
    from edgeseg.training.schedule import plan_steps

    spec = PreprocessSpec(32, 32)
    train_data, val = load_splits(DataConfig(synthetic_train=8, synthetic_val=2), spec)
    model = build_model(ModelConfig(preset="tiny", base_filters=2))
    model.compile(optimizer=keras().optimizers.Adam(1e-3), loss="binary_crossentropy")
    batches = batch_sequence(train_data, 4, False, 0)  # 2 steps per epoch
    plan = plan_steps(TrainConfig(epochs=50, learning_rate=1e-3, patience=1, min_patience_steps=6, smooth=3,
                                  eval_every=2), len(batches))
    scores = iter([0.1, 0.2, 0.9, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3])  # one spike at step 6
    rates, weights_at = [], {}

    def evaluate(predict):
        return {"dice": next(scores), "iou": 0.0}

    class Watch(keras().callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            rates.append(float(keras().backend.get_value(self.model.optimizer.learning_rate)))
            weights_at[len(rates)] = [w.copy() for w in self.model.get_weights()]

    validate = _validation_callback(val, 4, spec, tmp_path / "m.keras", plan, 0, writes=False, evaluate=evaluate)
    fit(model, batches, plan.epochs, 0, [Watch(), validate])
    # medians: 0.1, 0.15, 0.2, 0.3 (step 8), 0.3, ... -> 6 steps without a better median: stop at step 14
    assert validate.step == 14 and "no better median Dice for 6 steps" in validate.stopped_because
    assert validate.best_step == 6 and validate.best == 0.9  # the spike's weights are kept...
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), weights_at[6]))  # ...and restored
    assert rates == pytest.approx([plan.learning_rate(s) for s in range(14)])
    assert plan.total_steps == 100 and rates[0] < rates[4]  # warming up over the first 5 steps
