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
