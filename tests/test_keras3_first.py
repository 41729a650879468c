"""Issue 24 item 2, Keras 3 first: a Keras 3 model stays Keras 3 where tensorflow-model-optimization
is not needed (evaluation, post-training quantization, export); the tf_keras rebuild is made only
when a tfmot step is reached (or a TFLite trace of a layer Keras 3 lowers worse, models/keras3.py
WORSE_IN_TFLITE), and a model it cannot serve skips those steps in one line."""
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edgeseg.models.io import SPEC_ENTRY, load_model


@pytest.fixture(scope="module")
def k3():
    from edgeseg.backend import keras as tf_keras_module

    tf_keras_module()
    import keras

    return keras


def _untimed(fmt, paths):
    return "not timed in this test"


def _no_rebuild(monkeypatch):
    """Any tf_keras rebuild from here on fails the test."""
    import edgeseg.models.keras3 as keras3

    def refuse(*args, **kwargs):
        raise AssertionError("the tf_keras rebuild was made on a path that needs no tfmot")

    monkeypatch.setattr(keras3, "rebuild", refuse)


def _as_keras3_file(tf_keras_path: Path, out: Path, k3) -> Path:
    """The session's tiny U-Net (a tf_keras file) written by Keras 3, with the same weights and spec."""
    model, _ = load_model(tf_keras_path)
    h5 = out.with_suffix(".h5")
    model.save(h5)
    k3.saving.load_model(h5, compile=False).save(out)
    with zipfile.ZipFile(tf_keras_path) as source, zipfile.ZipFile(out, "a") as target:
        target.writestr(SPEC_ENTRY, source.read(SPEC_ENTRY))
    return out


def _scale_file(tmp_path: Path) -> Path:
    """A --custom-objects file with only the user's Keras 3 class (weights and a sublayer, no tf_keras twin)."""
    from test_keras3 import _scale_layer_source

    path = tmp_path / "my_layers.py"
    path.write_text(_scale_layer_source(register=False))
    return path


def _scale_model(k3, tmp_path: Path) -> tuple[Path, Path]:
    layers_file = _scale_file(tmp_path)
    namespace: dict = {}
    exec(layers_file.read_text(), namespace)
    L = k3.layers
    inputs = L.Input((32, 32, 1))
    x = namespace["Scale"](name="scale")(L.Conv2D(4, 3, padding="same", name="before")(inputs))
    outputs = L.Conv2D(1, 1, activation="sigmoid", name="head")(x)
    path = tmp_path / "scale.keras"
    k3.Model(inputs, outputs).save(path)
    return path, layers_file


def test_a_kept_keras3_model_is_rebuilt_only_on_demand_with_its_load_flags(k3, tmp_path):
    from edgeseg.models.keras3 import as_tf_keras, is_keras3

    L = k3.layers
    inputs = L.Input((32, 32, 1))
    outputs = L.Conv2D(1, 1, activation="sigmoid")(L.Lambda(lambda t: t * 2.0)(inputs))
    path = tmp_path / "lambda.keras"
    k3.Model(inputs, outputs).save(path)
    kept, spec = load_model(path, unsafe=True, keep_keras3=True)
    assert is_keras3(kept) and spec.height == 32
    rebuilt = as_tf_keras(kept)  # the Lambda needs --unsafe again: the flag the model was loaded with
    assert type(rebuilt).__module__.startswith("tf_keras") and as_tf_keras(kept) is rebuilt
    assert as_tf_keras(rebuilt) is rebuilt
    x = np.random.default_rng(0).random((2, 32, 32, 1)).astype(np.float32)
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), np.asarray(kept(x)), atol=1e-5)


def test_tfmot_steps_are_skipped_in_one_line_without_a_rebuild(k3, tmp_path, monkeypatch):
    """The Keras 3 class comes only from --custom-objects; whether tfmot can serve the model is read
    from the Keras 3 model itself."""
    from edgeseg.compress.pipeline import _without_tfmot
    from edgeseg.config import CompressConfig
    from edgeseg.models.flops import uncounted_layers

    path, layers_file = _scale_model(k3, tmp_path)
    _no_rebuild(monkeypatch)
    kept, _ = load_model(path, custom_objects=layers_file, keep_keras3=True)
    assert uncounted_layers(kept) == ["scale (Scale)"]
    lines = []
    makers, config, tfmot_ok = _without_tfmot(kept, [], CompressConfig(qat=True), lines.append)
    assert (makers, config.qat, tfmot_ok) == ([], False, False)
    assert len(lines) == 1 and "QAT" in lines[0] and "scale (Scale)" in lines[0]


def test_magnitude_pruning_gets_one_rebuild_and_a_model_that_cannot_be_rebuilt_skips_it_in_one_line(k3, tmp_path,
                                                                                              monkeypatch):
    import edgeseg.models.keras3 as keras3
    from edgeseg.compress.sources import MakerInputs, Original, Recovery, as_tf_keras_inputs, pruned_source

    L = k3.layers
    inputs = L.Input((32, 32, 1))
    path = tmp_path / "plain.keras"
    k3.Model(inputs, L.Conv2D(1, 1, activation="sigmoid")(inputs)).save(path)
    kept, _ = load_model(path, keep_keras3=True)
    lines, rebuilds = [], []
    real_rebuild = keras3.rebuild
    monkeypatch.setattr(keras3, "rebuild", lambda *a, **k: rebuilds.append(1) or real_rebuild(*a, **k))
    run = type("Run", (), {"log": staticmethod(lines.append)})()
    making = MakerInputs(run, Original(kept, None, 0), Recovery(0.5, {"teacher": kept, "distill_weight": 0.5}),
                         tmp_path, None)
    first, second = as_tf_keras_inputs(making, "magnitude pruning"), as_tf_keras_inputs(making, "QAT")
    assert len(rebuilds) == 1 and first.original.model is second.original.model
    assert not keras3.is_keras3(first.original.model) and first.recovery.distill["teacher"] is first.original.model
    assert making.original.model is kept and lines == []  # the base source keeps the Keras 3 model

    other, _ = load_model(path, keep_keras3=True)
    monkeypatch.setattr(keras3, "rebuild", lambda *a, **k: (_ for _ in ()).throw(TypeError("no tf_keras config")))
    making = MakerInputs(run, Original(other, None, 0), Recovery(0.5), tmp_path, None)
    assert pruned_source(making).source is None  # channel pruning needs no rebuild (test_keras3_channels.py)
    assert len(lines) == 1 and all(line.strip().startswith("skipped: ") and "everything else runs" in line
                                   and "no tf_keras config" in line for line in lines)


def test_a_model_class_built_on_keras3_elsewhere_counts_as_keras3(k3):
    """KerasHub's models live in keras_hub.*: they are Keras 3 models, so the makers rebuild them."""
    import tf_keras

    from edgeseg.models.keras3 import is_keras3

    class Segmenter(k3.Model):  # defined here, as keras_hub defines its own
        pass

    inputs = k3.layers.Input((8, 8, 1))
    assert is_keras3(Segmenter(inputs, k3.layers.Conv2D(1, 1)(inputs)))
    legacy = tf_keras.Input((8, 8, 1))
    assert not is_keras3(tf_keras.Model(legacy, tf_keras.layers.Conv2D(1, 1)(legacy)))


def test_the_studys_winner_reload_honours_unsafe(tmp_path):
    """A winner holding a Lambda layer is reloaded under the run's --unsafe, and refused without it."""
    import json

    import tf_keras

    from edgeseg.config import PreprocessSpec
    from edgeseg.errors import UsageError
    from edgeseg.models.io import save_model
    from edgeseg.search.trial import CANDIDATE, load_winner

    inputs = tf_keras.Input((32, 32, 1))
    outputs = tf_keras.layers.Conv2D(1, 1, activation="sigmoid")(tf_keras.layers.Lambda(lambda t: t * 2.0)(inputs))
    save_model(tf_keras.Model(inputs, outputs), PreprocessSpec(32, 32, 1, "0-1"), tmp_path / "k" / "model.keras")
    tuned = {"steps": 2, "dice_curve": [], "best_step": None, "best_dice": None, "stopped_because": "x", "seconds": 0}
    (tmp_path / "k" / CANDIDATE).write_text(json.dumps({"finetune": tuned, "kept": {}, "ratio": 0.5, "frozen": []}))
    with pytest.raises(UsageError, match="Lambda"):
        load_winner(tmp_path, "k")
    assert load_winner(tmp_path, "k", unsafe=True).model.count_params() == 2


def _config(**extra):
    from edgeseg.config import CompressConfig, DataConfig

    return CompressConfig(data=DataConfig(synthetic_train=16, synthetic_val=8), calibration_samples=8,
                          normalize=None, **extra)


@pytest.fixture(scope="module")
def prune_none_run(k3, tiny_model_path, tmp_path_factory):
    """`compress --prune none` on the tiny U-Net as a Keras 3 file, its rebuilds counted: (the Keras 3
    file, OUT, the calibration batches it used, the report, the rebuilds made)."""
    import edgeseg.compress.pipeline as pipeline
    import edgeseg.models.keras3 as keras3

    tmp_path = tmp_path_factory.mktemp("keras3_none")
    path = _as_keras3_file(tiny_model_path, tmp_path / "k3.keras", k3)
    calibrations, rebuilds = [], []
    real_calibration, real_rebuild = pipeline.calibration_images, keras3.rebuild
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "calibration_images",
                      lambda *a: calibrations.append(real_calibration(*a)) or calibrations[-1])
        patch.setattr(keras3, "rebuild", lambda *a, **k: rebuilds.append(1) or real_rebuild(*a, **k))
        report = pipeline.compress(path, _config(), tmp_path / "out", timer=_untimed)
    return path, tmp_path / "out", calibrations, report, len(rebuilds)


@pytest.mark.slow
def test_compress_prune_none_keeps_keras3_and_its_artifacts_equal_the_rebuilds(k3, prune_none_run, tmp_path):
    import onnxruntime
    from ai_edge_litert.interpreter import Interpreter

    from edgeseg.export.onnx import export_onnx
    from edgeseg.models.keras3 import rebuild
    from edgeseg.quantize.sensitivity import layer_groups, onnx_nodes
    from edgeseg.quantize.tflite_int8 import calibrate, quantize_calibrated

    from edgeseg.artifacts.edgetpu import check
    from edgeseg.artifacts.tflite import operators

    path, out, calibrations, report, rebuilds = prune_none_run
    rows = {a.path: a for a in report.artifacts}
    assert rows["model_int8.tflite"].deployable and rows["model_int8.onnx"].deployable
    # Keras 3 traces nearest UpSampling2D as RESHAPE/TILE (no Edge TPU op, left float by litert-quantizer):
    # the TFLite files are traced from the one rebuild, the rest of the run keeps the Keras 3 model
    assert rebuilds == 1
    ops = {op.name for op in operators((out / "model_int8.tflite").read_bytes())[0]}
    assert "RESIZE_NEAREST_NEIGHBOR" in ops and not ops & {"TILE", "DEQUANTIZE", "QUANTIZE"}
    assert check(out / "model_int8.tflite").ready

    # today's path: the tf_keras rebuild, converted with the same calibration
    rebuilt = rebuild(k3.saving.load_model(path, compile=False))
    x = np.random.default_rng(3).random((1, 32, 32, 1)).astype(np.float32)

    def litert(blob: bytes) -> np.ndarray:
        interpreter = Interpreter(model_content=blob)
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

    ours = litert((out / "model_int8_float_io.tflite").read_bytes())
    np.testing.assert_array_equal(ours, litert(quantize_calibrated(calibrate(rebuilt, calibrations[0]), False)))

    def onnx(file: Path) -> np.ndarray:
        session = onnxruntime.InferenceSession(str(file))
        return session.run(None, {session.get_inputs()[0].name: x})[0]

    np.testing.assert_allclose(onnx(out / "model.onnx"), onnx(export_onnx(rebuilt, tmp_path / "r.onnx")),
                               atol=1e-6)

    # the mixed-precision rung finds the Keras 3 layers in both files (Keras 3 traces 'enc1_conv1' as 'enc1_conv1_1')
    kept = k3.saving.load_model(path, compile=False)
    groups = layer_groups(kept, (out / "model_float32.tflite").read_bytes())
    assert [g.name for g in groups][:2] == ["enc1_conv1", "enc1_conv2"]
    # (a convolution with its own bias: tf2onnx names a convolution fused with BatchNorm Conv__N)
    picked = onnx_nodes(out / "model.onnx", ["dec2_upconv"], keras3=True)
    assert any("/dec2_upconv_1/" in n for n in picked) and not any("dec2_conv1" in n for n in picked)


@pytest.mark.slow
def test_prune_channels_prunes_the_keras3_model_itself_and_the_base_stays_as_with_prune_none(prune_none_run, tmp_path,
                                                                                            monkeypatch):
    """Channel pruning, its ranking and fine-tuning run on the Keras 3 model: no rebuild in the maker. The
    only rebuilds are TFLite's traces of a nearest UpSampling2D (models/keras3.WORSE_IN_TFLITE; the float32
    TFLite file is made even for --formats onnx): one for the user's model, one for the pruned one.
    The base model's baseline, PTQ, export and verification are those of --prune none (same artifacts)."""
    import onnxruntime

    import edgeseg.compress.sources as sources
    import edgeseg.models.keras3 as keras3
    from edgeseg.compress.pipeline import compress
    from edgeseg.models.io import _keras_archive_info

    path, none_out, _, none_report, _ = prune_none_run
    where, rebuilds = [], []
    real_rebuild, real_source, (wanted, title, maker) = keras3.rebuild, keras3.tflite_source, sources.MAKERS["channels"]

    def counted(*args, **kwargs):
        rebuilds.append(where[-1] if where else "elsewhere")
        return real_rebuild(*args, **kwargs)

    def inside(label, function):
        def run(*args, **kwargs):
            where.append(label)
            try:
                return function(*args, **kwargs)
            finally:
                where.pop()
        return run

    monkeypatch.setattr(keras3, "rebuild", counted)
    monkeypatch.setattr(keras3, "tflite_source", inside("tflite", real_source))
    monkeypatch.setitem(sources.MAKERS, "channels", (wanted, title, inside("maker", maker)))
    config = _config(prune="channels", channel_ratio=0.5, finetune_steps=2, finetune_min_steps=0,
                     formats=("onnx",))
    report = compress(path, config, tmp_path / "out", timer=_untimed)
    assert rebuilds == ["tflite", "tflite"]
    assert _keras_archive_info(tmp_path / "out" / "channels.keras")[0].startswith("3.")  # written by Keras 3
    names = {a.path for a in report.artifacts}
    assert {"model_int8.onnx", "model_channels_int8.onnx"} <= names
    assert report.baseline == none_report.baseline and report.channels.parameters < report.channels.parameters_before
    x = np.random.default_rng(5).random((2, 32, 32, 1)).astype(np.float32)

    def onnx(file: Path) -> np.ndarray:
        session = onnxruntime.InferenceSession(str(file))
        return session.run(None, {session.get_inputs()[0].name: x})[0]

    for name in ("model.onnx", "model_int8.onnx"):
        np.testing.assert_array_equal(onnx(tmp_path / "out" / name), onnx(none_out / name), err_msg=name)


@pytest.mark.slow
def test_a_custom_keras3_layer_goes_through_ptq_with_no_twin_and_no_rebuild(k3, tmp_path, monkeypatch, capsys):
    from edgeseg.compress.pipeline import compress
    from edgeseg.config import CompressConfig, DataConfig

    path, layers_file = _scale_model(k3, tmp_path)
    _no_rebuild(monkeypatch)
    config = CompressConfig(data=DataConfig(synthetic_train=16, synthetic_val=8), calibration_samples=4,
                            custom_objects=str(layers_file), qat=True, formats=("tflite",), max_dice_drop=1.0)
    report = compress(path, config, tmp_path / "out", timer=_untimed)
    text = capsys.readouterr().out
    assert sum("skipped: magnitude pruning and QAT" in line for line in text.splitlines()) == 1
    assert {"model_int8.tflite", "model_float32.tflite"} <= {a.path for a in report.artifacts}
    assert not any("qat" in a.path for a in report.artifacts)
    assert "FLOPs leave out scale (Scale)" in text


def test_evaluate_scores_a_keras3_model_without_a_rebuild(k3, tmp_path, monkeypatch, capsys):
    from edgeseg.cli.main import main

    L = k3.layers
    inputs = L.Input((32, 32, 1))
    path = tmp_path / "plain.keras"
    k3.Model(inputs, L.Conv2D(1, 1, activation="sigmoid")(inputs)).save(path)
    _no_rebuild(monkeypatch)
    assert main(["eval", str(path), "--synthetic-val", "4"]) == 0
    assert "Dice" in capsys.readouterr().out
