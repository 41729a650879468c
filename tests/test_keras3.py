"""Keras 3 files: rebuilt as tf_keras models that agree with the original, or refused clearly."""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import fake_keras_archive, last_error_line, run_cli
from edgeseg.errors import ModelError, UsageError
from edgeseg.models.io import load_model


@pytest.fixture(scope="module")
def k3():
    from edgeseg.backend import keras as tf_keras_module

    tf_keras_module()
    import keras

    return keras


def _save(model, path: Path) -> Path:
    model.save(path)
    assert json.loads(zipfile.ZipFile(path).read("metadata.json"))["keras_version"].startswith("3.")
    return path


def _agree(path: Path, k3, shape=(32, 32, 3)):
    rebuilt, spec = load_model(path)
    original = k3.saving.load_model(path, compile=False)
    x = np.random.default_rng(1).random((2, *shape)).astype(np.float32)
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), np.asarray(original(x)), atol=1e-5)
    return rebuilt, spec


def test_functional_model_with_the_supported_layers(k3, tmp_path):
    L = k3.layers
    inputs = L.Input((32, 32, 3), name="image")
    x = L.Rescaling(2.0, offset=-1.0)(inputs)
    x = L.Conv2D(8, 3, padding="same", name="stem")(x)
    x = L.BatchNormalization()(x)
    x = L.LeakyReLU(negative_slope=0.1)(x)
    skip = L.SeparableConv2D(8, 3, padding="same", activation="relu")(x)
    y = L.DepthwiseConv2D(3, padding="same")(skip)
    y = L.PReLU()(y)
    y = L.AveragePooling2D(2)(y)
    y = L.ZeroPadding2D(1)(y)
    y = L.Cropping2D(1)(y)
    y = L.Conv2DTranspose(8, 2, strides=2)(y)
    y = L.Add()([y, skip])
    y = L.Multiply()([y, L.Activation("sigmoid")(skip)])
    squeeze = L.Conv2D(8, 1, activation="sigmoid")(L.GlobalAveragePooling2D(keepdims=True)(y))
    y = L.Multiply()([y, squeeze])  # a squeeze-and-excitation gate
    z = L.MaxPooling2D(2)(y)
    z = L.UpSampling2D(2, interpolation="bilinear")(z)
    z = L.Resizing(32, 32)(z)
    z = L.Concatenate()([z, y])
    z = L.SpatialDropout2D(0.2)(z)
    z = L.Dropout(0.1)(L.ReLU()(z))
    z = L.Conv2D(3, 1)(z)
    outputs = L.Softmax()(L.Reshape((32, 32, 3))(z))
    path = _save(k3.Model(inputs, outputs), tmp_path / "many.keras")
    rebuilt, spec = _agree(path, k3)
    assert spec.classes == 3
    assert rebuilt.get_layer("stem").name == "stem"
    assert type(rebuilt).__module__.startswith("tf_keras")


def test_sequential_nested_in_functional(k3, tmp_path):
    L = k3.layers
    block = k3.Sequential([L.Input((32, 32, 4)), L.Conv2D(4, 3, padding="same", activation="relu"),
                           L.BatchNormalization()], name="block")
    inputs = L.Input((32, 32, 3))
    x = L.Conv2D(4, 3, padding="same")(inputs)
    x = block(x)
    outputs = L.Conv2D(1, 1, activation="sigmoid")(x)
    _agree(_save(k3.Model(inputs, outputs), tmp_path / "nested.keras"), k3)
    seq = k3.Sequential([L.Input((32, 32, 3)), L.Conv2D(2, 3, padding="same"), L.Conv2D(1, 1, activation="sigmoid")])
    _agree(_save(seq, tmp_path / "seq.keras"), k3)


def test_lambda_is_refused_without_unsafe(k3, tmp_path):
    L = k3.layers
    inputs = L.Input((32, 32, 1))
    outputs = L.Conv2D(1, 1, activation="sigmoid")(L.Lambda(lambda t: t * 2.0)(inputs))
    path = _save(k3.Model(inputs, outputs), tmp_path / "lambda.keras")
    with pytest.raises(UsageError, match="Lambda.*--unsafe"):
        load_model(path)
    rebuilt, _ = load_model(path, unsafe=True)  # the rebuild is still checked against the original
    assert any(type(layer).__name__ == "Lambda" for layer in rebuilt.layers)


def test_a_tf_keras_twin_in_the_custom_objects_file_is_still_honoured(k3, tmp_path):
    @k3.saving.register_keras_serializable(package="user")
    class Doubler(k3.layers.Layer):
        def call(self, x):
            return x * 2.0

    inputs = k3.layers.Input((32, 32, 1))
    outputs = k3.layers.Conv2D(1, 1, activation="sigmoid")(Doubler()(inputs))
    path = _save(k3.Model(inputs, outputs), tmp_path / "custom.keras")
    layers_file = tmp_path / "my_layers.py"
    layers_file.write_text(
        "import keras, tf_keras\n"
        "@keras.saving.register_keras_serializable(package='user')\n"
        "class Doubler(keras.layers.Layer):\n    def call(self, x):\n        return x * 2.0\n"
        "class DoublerTF(tf_keras.layers.Layer):\n    def call(self, x):\n        return x * 2.0\n"
        "DoublerTF.__name__ = 'Doubler'\n")
    rebuilt, _ = load_model(path, custom_objects=layers_file)
    assert rebuilt.count_params() == 2
    assert "Keras3Island" not in [type(layer).__name__ for layer in rebuilt.layers]


def test_multi_output_and_newer_keras_are_refused(k3, tmp_path):
    L = k3.layers
    inputs = L.Input((32, 32, 1))
    two = k3.Model(inputs, [L.Conv2D(1, 1)(inputs), L.Conv2D(1, 1)(inputs)])
    with pytest.raises(ModelError, match="one output"):
        load_model(_save(two, tmp_path / "two.keras"))
    with pytest.raises(ModelError, match="newer"):
        load_model(fake_keras_archive(tmp_path / "future.keras", version="4.0.0"))


@pytest.mark.slow
def test_seed_unet_written_with_tensorflow_keras_compresses_end_to_end(tmp_path):
    """The seed's own code under TF 2.21 (tensorflow.keras is Keras 3), trained outside edgeseg,
    goes through `python scripts/compress.py model.keras --data DIR` with no other flags."""
    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    model = tmp_path / "model.keras"
    subprocess.run([sys.executable, str(root / "tests" / "keras3_seed_unet.py"), str(model), "32", "train"],
                   check=True, env=env, capture_output=True, timeout=600)
    data = tmp_path / "data"
    assert run_cli("data", "synth", "--out", str(data), "--count", "40", "--size", "32").returncode == 0
    result = subprocess.run([sys.executable, str(root / "scripts" / "compress.py"), str(model), "--data", str(data)],
                            capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "model_edgeseg" / "report.json").read_text())
    rows = {a["path"]: a for a in report["artifacts"]}
    for name in ("model_int8.tflite", "model_int8.onnx"):
        assert rows[name]["deployable"], rows[name]
        assert rows[name]["dice"] >= report["baseline"]["dice"] - 0.01


def test_bad_keras3_file_via_cli_writes_nothing(tmp_path):
    broken = fake_keras_archive(tmp_path / "broken.keras", config="{not json")
    result = run_cli("compress", str(broken))
    assert result.returncode == 2 and "cannot load" in last_error_line(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.keras"]


@pytest.mark.slow
def test_multiclass_softmax_model_reports_dice_per_class(k3, tmp_path):
    k3.utils.set_random_seed(0)  # an untrained model's argmax is fragile: its int8 agreement varies with the draw
    L = k3.layers
    inputs = L.Input((32, 32, 1))
    x = L.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    outputs = L.Conv2D(3, 1, activation="softmax")(x)
    path = _save(k3.Model(inputs, outputs), tmp_path / "three.keras")
    out = tmp_path / "out"
    result = run_cli("compress", str(path), "--out", str(out), "--sparsity", "0", "--synthetic-train", "16",
                     "--synthetic-val", "8", "--calibration-samples", "8", "--max-dice-drop", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert len(report["baseline"]["dice_per_class"]) == 2
    assert all(len(a["dice_per_class"]) == 2 for a in report["artifacts"])
    assert "Dice per foreground class" in (out / "report.md").read_text()
    assert "Dice per class" in result.stdout


def _scale_layer_source(register: bool) -> str:
    """A Keras 3 layer with weights and sublayers, and no tf_keras twin."""
    return ("import keras\n"
            + ("@keras.saving.register_keras_serializable(package='user')\n" if register else "")
            + "class Scale(keras.layers.Layer):\n"
              "    def build(self, shape):\n"
              "        self.w = self.add_weight(shape=(shape[-1],), initializer='ones', name='w')\n"
              "        self.conv = keras.layers.Conv2D(shape[-1], 3, padding='same')\n"
              "        self.conv.build(shape)\n"
              "    def call(self, x):\n"
              "        return self.conv(x) * self.w\n")


def _scale_model(k3, scale_class, tmp_path):
    L = k3.layers
    inputs = L.Input((32, 32, 1))
    x = L.Conv2D(4, 3, padding="same", name="before")(inputs)
    x = scale_class(name="scale")(x)
    outputs = L.Conv2D(1, 1, activation="sigmoid", name="head")(L.Conv2D(4, 3, padding="same", name="after")(x))
    return _save(k3.Model(inputs, outputs), tmp_path / "scale.keras")


def test_a_keras3_layer_without_a_tf_keras_twin_runs_as_it_is(k3, tmp_path):
    """Only the user's Keras 3 class is given; it is trained, pruned around, saved and reloaded."""
    from edgeseg.models.flops import uncounted_layers
    from edgeseg.models.io import save_model
    from edgeseg.prune.channels import prune_channels

    layers_file = tmp_path / "my_layers.py"
    layers_file.write_text(_scale_layer_source(register=False))
    namespace: dict = {}
    exec(layers_file.read_text(), namespace)
    path = _scale_model(k3, namespace["Scale"], tmp_path)
    with pytest.raises(ModelError, match=r"Scale.*--custom-objects.*Keras said"):
        load_model(path)
    rebuilt, spec = load_model(path, custom_objects=layers_file)  # no tf_keras class in the file
    original = k3.saving.load_model(path, compile=False, custom_objects={"Scale": namespace["Scale"]})
    x = np.random.default_rng(1).random((2, 32, 32, 1)).astype(np.float32)
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), np.asarray(original(x)), atol=1e-5)
    assert uncounted_layers(rebuilt) == ["scale (Scale)"]
    assert rebuilt.get_layer("scale").count_params() == 4 + 4 * 4 * 9 + 4
    before = rebuilt.get_layer("scale").get_weights()[0].copy()
    rebuilt.compile("adam", "mse")
    rebuilt.fit(x, x[..., :1] * 0, epochs=1, verbose=0)
    assert not np.allclose(before, rebuilt.get_layer("scale").get_weights()[0])  # its weights train
    pruned = prune_channels(rebuilt, 0.5)
    assert "before" in pruned.frozen and pruned.kept["after"] == (2, 4)  # only its own group is frozen
    save_model(rebuilt, spec, tmp_path / "saved.keras")
    again, _ = load_model(tmp_path / "saved.keras", custom_objects=layers_file)
    np.testing.assert_allclose(again.predict(x, verbose=0), rebuilt.predict(x, verbose=0), atol=1e-6)


def test_a_registered_keras3_class_loads_with_no_file_and_only_tfmot_steps_are_skipped(k3, tmp_path):
    from edgeseg.compress.pipeline import _without_tfmot
    from edgeseg.config import CompressConfig

    namespace: dict = {}
    exec(_scale_layer_source(register=True), namespace)
    path = _scale_model(k3, namespace["Scale"], tmp_path)
    rebuilt, _ = load_model(path)  # registered (as an installed package's classes are): no --custom-objects
    assert [type(layer).__name__ for layer in rebuilt.layers].count("Keras3Island") == 1
    lines = []
    makers, config, tfmot_ok = _without_tfmot(rebuilt, ["pruned", "channels"], CompressConfig(qat=True), lines.append)
    assert (makers, config.qat, tfmot_ok) == (["channels"], False, False)
    assert len(lines) == 1 and "magnitude pruning and QAT" in lines[0] and "scale (Scale)" in lines[0]
    plain, _ = load_model(_save(k3.Sequential([k3.Input((32, 32, 1)), k3.layers.Conv2D(1, 1)]), tmp_path / "p.keras"))
    assert _without_tfmot(plain, ["pruned"], CompressConfig(qat=True), lines.append)[0] == ["pruned"]


@pytest.mark.slow
def test_tflite_and_onnx_are_made_from_a_keras3_model_directly(k3, tmp_path):
    """The converters take a Keras 3 model as it is (no rebuild); outputs equal the rebuild's."""
    from ai_edge_litert.interpreter import Interpreter

    from edgeseg.export.onnx import export_onnx
    from edgeseg.export.tflite import convert_float32
    from edgeseg.quantize.tflite_int8 import QuantSpec, convert_integer

    L = k3.layers
    inputs = L.Input((32, 32, 1))
    x = L.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = L.UpSampling2D(2)(L.MaxPooling2D(2)(x))
    original = k3.Model(inputs, L.Conv2D(1, 1, activation="sigmoid")(x))
    rebuilt, _ = _agree(_save(original, tmp_path / "direct.keras"), k3, (32, 32, 1))
    x = np.random.default_rng(2).random((4, 32, 32, 1)).astype(np.float32)

    def run(blob):
        interpreter = Interpreter(model_content=blob)
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x[:1])
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

    for convert in (convert_float32, lambda m: convert_integer(m, x, QuantSpec(integer_io=False))):
        direct = convert(original)
        np.testing.assert_array_equal(run(direct), run(convert(rebuilt)))
    import onnxruntime

    outputs = []
    for model, name in ((original, "k3.onnx"), (rebuilt, "tfk.onnx")):
        session = onnxruntime.InferenceSession(str(export_onnx(model, tmp_path / name)))
        outputs.append(session.run(None, {session.get_inputs()[0].name: x})[0])
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-6)
