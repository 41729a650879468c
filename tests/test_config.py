import pytest

from edgeseg.config import CompressConfig, DataConfig, ModelConfig, PreprocessSpec
from edgeseg.errors import UsageError


def test_spec_round_trip():
    spec = PreprocessSpec(48, 64, 3, "-1-1", 0.4, 3)
    assert PreprocessSpec.from_dict(spec.to_dict()) == spec
    assert PreprocessSpec.from_dict({**spec.to_dict(), "future_field": 1}) == spec


@pytest.mark.parametrize("make", [
    lambda: PreprocessSpec(32, 32, normalize="0-255"),
    lambda: PreprocessSpec(32, 32, channels=2),
    lambda: ModelConfig(preset="huge"),
    lambda: ModelConfig(arch="resnet"),
    lambda: DataConfig(val_fraction=1.0),
    lambda: CompressConfig(sparsity=1.0),
    lambda: CompressConfig(sparsity=-0.1),
    lambda: CompressConfig(onnx_opset=13),
    lambda: CompressConfig(batch_size=0),
    lambda: CompressConfig(finetune_lr=0.0),
    lambda: CompressConfig(formats=("onnx",), qat=True),  # QAT makes TFLite artifacts: refused, not ignored
    lambda: CompressConfig(formats=("onnx",), edgetpu=True),
    lambda: CompressConfig(distill=0.5),  # nothing fine-tunes without --prune
    lambda: CompressConfig(seed=-1),
    lambda: DataConfig(synthetic_train=0),
])
def test_invalid_values_are_usage_errors(make):
    with pytest.raises(UsageError):
        make()


def test_compress_config_round_trip():
    config = CompressConfig(data=DataConfig(), prune="magnitude", sparsity=0.8, qat=True, formats=["tflite"])
    assert CompressConfig(**{**config.to_dict(), "data": DataConfig(**config.to_dict()["data"])}) == config
