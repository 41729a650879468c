import zipfile

import numpy as np
import pytest

from conftest import fake_keras_archive
from edgeseg.config import ModelConfig, PreprocessSpec
from edgeseg.errors import ModelError, OutputExistsError, UsageError
from edgeseg.models.io import load_model, save_model
from edgeseg.models.registry import build_model


def test_seed_preset_is_the_seed_architecture():
    model = build_model(ModelConfig(arch="unet", preset="seed"))
    assert model.count_params() == 1_925_025
    assert tuple(model.input_shape) == (None, 256, 256, 1)
    assert tuple(model.output_shape) == (None, 256, 256, 1)
    convs = [l for l in model.layers if type(l).__name__ == "Conv2D"]
    assert [l.filters for l in convs] == [32, 32, 64, 64, 128, 128, 256, 256,
                                          128, 128, 128, 64, 64, 64, 32, 32, 32, 1]
    assert all(l.activation.__name__ == "relu" for l in convs[:-1])
    assert convs[-1].activation.__name__ == "sigmoid" and convs[-1].kernel_size == (1, 1)
    assert [l.kernel_size for l in convs if "upconv" in l.name] == [(2, 2)] * 3
    assert [l.rate for l in model.layers if type(l).__name__ == "Dropout"] == [0.5]
    assert sum(type(l).__name__ == "MaxPooling2D" for l in model.layers) == 3
    assert sum(type(l).__name__ == "UpSampling2D" for l in model.layers) == 3
    assert not any(type(l).__name__ == "BatchNormalization" for l in model.layers)


def test_unet_options():
    model = build_model(ModelConfig(preset="tiny", height=48, width=64, channels=3, classes=4, base_filters=2,
                                    depth=3, batchnorm=False, dropout=0.2))
    assert tuple(model.output_shape) == (None, 48, 64, 4)
    assert model.layers[-1].activation.__name__ == "softmax"
    assert not any(type(l).__name__ == "BatchNormalization" for l in model.layers)
    with pytest.raises(UsageError, match="divisible"):
        build_model(ModelConfig(preset="tiny", height=30))


def test_deeplab_lite_has_dilations_aspp_and_bilinear_upsampling():
    model = build_model(ModelConfig(arch="deeplab_lite", preset="tiny"))
    assert tuple(model.output_shape) == (None, 32, 32, 1)
    assert any(l.dilation_rate != (1, 1) for l in model.layers if type(l).__name__ == "Conv2D")
    assert any("aspp" in l.name for l in model.layers)
    assert any(getattr(l, "interpolation", None) == "bilinear" for l in model.layers)
    out = model.predict(np.zeros((1, 32, 32, 1), np.float32), verbose=0)
    assert out.shape == (1, 32, 32, 1) and 0 <= out.min() <= out.max() <= 1


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_save_and_load_carry_the_spec(tmp_path, suffix):
    model = build_model(ModelConfig(preset="tiny"))
    spec = PreprocessSpec(32, 32, 1, "-1-1", 0.3, 1)
    path = save_model(model, spec, tmp_path / f"m{suffix}")
    loaded, loaded_spec = load_model(path)
    assert loaded_spec == spec
    x = np.random.default_rng(0).random((2, 32, 32, 1)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    with pytest.raises(OutputExistsError):
        save_model(model, spec, path)
    with pytest.raises(UsageError, match="trained with normalize -1-1"):
        load_model(path, normalize="0-1")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"m{suffix}"]  # no temporary left behind


def test_model_without_spec_takes_normalize_option(tmp_path):
    model = build_model(ModelConfig(preset="tiny"))
    path = tmp_path / "plain.keras"
    model.save(path)
    _, spec = load_model(path, normalize="-1-1")
    assert (spec.height, spec.width, spec.channels, spec.normalize, spec.classes) == (32, 32, 1, "-1-1", 1)



@pytest.mark.parametrize("make, message", [
    (lambda p: None, "not found"),
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_bytes(b"PK\x03\x04 truncated"), "not a valid .keras"),
    (lambda p: zipfile.ZipFile(p, "w").writestr("readme.txt", "hi"), "not a Keras model"),
    (fake_keras_archive, "cannot load"),
])
def test_bad_model_files(tmp_path, make, message):
    path = tmp_path / "model.keras"
    make(path)
    with pytest.raises(ModelError, match=message):
        load_model(path)


def test_non_segmentation_model_is_refused(tmp_path):
    from edgeseg.backend import keras

    layers = keras().layers
    inputs = layers.Input((32, 32, 1))
    classifier = keras().Model(inputs, layers.Dense(3)(layers.GlobalAveragePooling2D()(inputs)))
    path = tmp_path / "classifier.keras"
    classifier.save(path)
    with pytest.raises(ModelError, match="not a segmentation model|per-pixel"):
        load_model(path)
