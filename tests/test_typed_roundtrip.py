"""Typed values end to end: CompressConfig and CompressReport read back exactly what they wrote."""
import dataclasses
import json

import pytest

from edgeseg.config import CompressConfig, DataConfig, ModelConfig, TrainConfig
from edgeseg.errors import DataError, UsageError

# A value of every CompressConfig field other than its default, and valid together.
CHANGED = {"data": DataConfig(source="/data", val_fraction=0.3, seed=4, synthetic_train=9, synthetic_val=3,
                              augment=False, balance="weight"),
           "normalize": "-1-1", "sparsity": 0.7, "max_dice_drop": 0.05, "max_pq_drop": 0.03, "qat": True,
           "finetune_steps": 50, "finetune_min_steps": 10, "finetune_time": 30.0, "finetune_lr": 1e-3,
           "qat_steps": 20, "distill": 0.5, "unlabeled": "/unlabeled", "batch_size": 4, "calibration_samples": 8,
           "onnx_opset": 18, "unsafe": True, "custom_objects": "layers.py", "edgetpu": True, "edgetpu_runtime": 15,
           "prune": "channels", "channel_ratio": 0.25, "channel_rounds": 2, "channel_criterion": "l1",
           "target": "onnxrt-cpu", "search_trials": 7, "search_time": 60.0, "study": "s.sqlite3",
           "formats": ("tflite",), "seed": 3, "verbose": 0}


def test_every_compress_config_field_round_trips():
    defaults = CompressConfig()
    fields = [f.name for f in dataclasses.fields(CompressConfig)]
    assert sorted(CHANGED) == sorted(fields), "give a new CompressConfig field a changed value in CHANGED"
    changed = CompressConfig(**CHANGED)
    assert all(getattr(changed, name) != getattr(defaults, name) for name in fields)
    for config in (defaults, changed):
        assert CompressConfig.from_dict(config.to_dict()) == config
        through_json = json.loads(json.dumps(config.to_dict()))  # lists come back as tuples
        assert CompressConfig.from_dict(through_json) == config
    assert isinstance(CompressConfig.from_dict(json.loads(json.dumps(changed.to_dict()))).formats, tuple)


def test_other_configs_round_trip():
    train = TrainConfig(model=ModelConfig(preset="tiny", task="instance", boundary=True), data=DataConfig(seed=2),
                        epochs=3, strategy="mirrored")
    assert TrainConfig.from_dict(json.loads(json.dumps(dataclasses.asdict(train)))) == train


@pytest.mark.parametrize("raw, error", [
    ({"sparsity": 1.0}, UsageError),  # what the constructor refuses, from_dict refuses the same way
    ({"formats": ["onnx"], "qat": True}, UsageError),
    ({"sparsity": "0.5"}, UsageError),
    ({"qat": 1}, UsageError),
    ({"seed": True}, UsageError),
    ({"formats": "tflite"}, UsageError),
    ({"data": {"val_fraction": 1.0}}, UsageError),
    ({"data": "synthetic"}, DataError),
    ({"normalize": "0-255"}, UsageError),
    ({"sparsityy": 0.5}, UsageError),  # a misspelt field is not silently ignored
    ([], DataError),
])
def test_invalid_compress_config_records_are_refused(raw, error):
    with pytest.raises(error):
        CompressConfig.from_dict(raw)


def test_unknown_fields_are_ignored_only_when_asked():
    assert CompressConfig.from_dict({"search_engine": "optuna"}, ignore_unknown=True) == CompressConfig()
