"""Structured (filter) pruning on the layer graph: U-Net, deeplab_lite and a user-style model
with residual adds, transposed, separable and depthwise convolutions. The strongest check:
zeroing the filters the plan removes in the original model gives the pruned model's output."""
import numpy as np
import pytest

from edgeseg.backend import keras
from edgeseg.prune.channels import channel_plan, prune_channels
from edgeseg.config import ModelConfig
from edgeseg.models.flops import model_macs
from edgeseg.models.registry import build_model


def user_model():
    """What a user might bring: no U-Net naming, residual Add, Conv2DTranspose, separable and
    depthwise convolutions, PReLU, a concatenated skip and a softmax head."""
    L = keras().layers
    inp = L.Input((32, 32, 3))
    stem = L.Conv2D(12, 3, padding="same", activation="relu")(inp)
    branch = L.SeparableConv2D(12, 3, padding="same")(stem)
    branch = L.PReLU(shared_axes=[1, 2])(branch)
    res = L.Add()([stem, branch])  # stem and branch must keep the same filters
    down = L.Conv2D(16, 3, strides=2, padding="same", activation="relu")(res)
    deep = L.DepthwiseConv2D(3, padding="same")(down)
    deep = L.Conv2D(16, 1, activation="relu")(deep)
    up = L.Conv2DTranspose(8, 2, strides=2, padding="same")(deep)
    x = L.Concatenate()([up, res])
    x = L.Conv2D(8, 3, padding="same", activation="relu")(x)
    out = L.Conv2D(3, 1, activation="softmax")(x)
    return keras().Model(inp, out)


def _randomize(model, seed=0):
    """Random biases too, so that a wrongly kept or dropped channel changes the output."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


MODELS = {
    "unet": lambda: build_model(ModelConfig(preset="tiny", base_filters=8, batchnorm=False)),
    "deeplab_lite": lambda: build_model(ModelConfig(arch="deeplab_lite", preset="tiny", base_filters=8)),
    "user": user_model,
}


def _zero_removed(model, plan):
    """The original model with every filter the plan removes set to zero (kernel and bias)."""
    kinds = ("Conv2D", "Conv2DTranspose", "SeparableConv2D", "Dense", "DepthwiseConv2D")
    for layer in model.layers:
        if type(layer).__name__ not in kinds:
            continue
        weights = layer.get_weights()
        removed = np.setdiff1d(np.arange(int(layer.output.shape[-1])), plan[layer.name])
        if type(layer).__name__ == "Conv2DTranspose":
            weights[0][:, :, removed] = 0
        elif type(layer).__name__ != "DepthwiseConv2D":
            weights[-2 if layer.use_bias else -1][..., removed] = 0
        if layer.use_bias:
            weights[-1][removed] = 0
        layer.set_weights(weights)
    return model


@pytest.mark.parametrize("name", ["unet", "user"])
def test_pruned_model_equals_the_original_with_removed_filters_zeroed(name):
    model = _randomize(MODELS[name]())
    x = np.random.default_rng(1).random((2, *model.inputs[0].shape[1:]), dtype=np.float32)
    result = prune_channels(model, 0.5)
    expected = keras().models.clone_model(model)
    expected.set_weights(model.get_weights())
    _zero_removed(expected, channel_plan(model, 0.5))
    np.testing.assert_allclose(result.model.predict(x, verbose=0), expected.predict(x, verbose=0), atol=1e-5)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_architecture_prunes_to_a_consistent_smaller_model(name):
    model = _randomize(MODELS[name]())
    before = [w.copy() for w in model.get_weights()]
    x = np.random.default_rng(2).random((1, *model.inputs[0].shape[1:]), dtype=np.float32)
    result = prune_channels(model, 0.5)
    small = result.model
    assert small.predict(x, verbose=0).shape == model.predict(x, verbose=0).shape
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # the given model is untouched
    assert small.count_params() < 0.45 * model.count_params()
    assert model_macs(small) < 0.4 * model_macs(model)
    output_layer = model.outputs[0]._keras_history.layer.name  # noqa: SLF001
    assert output_layer in result.frozen  # classes are never pruned
    for layer, (kept, total) in result.kept.items():
        if layer != output_layer:
            assert kept == max(1, round(total * 0.5)), (layer, kept, total)


def test_merged_spaces_keep_the_same_filters():
    model = _randomize(user_model())
    plan = channel_plan(model, 0.5)
    producers = [l.name for l in model.layers if type(l).__name__ in ("Conv2D", "SeparableConv2D")]
    stem, branch = producers[0], producers[1]  # the two inputs of the residual Add
    np.testing.assert_array_equal(plan[stem], plan[branch])


def test_a_ratio_that_keeps_every_filter_reproduces_the_model_exactly():
    model = _randomize(MODELS["deeplab_lite"]())
    x = np.random.default_rng(3).random((2, 32, 32, 1), dtype=np.float32)
    same = prune_channels(model, 0.01).model  # rounds to every filter kept
    np.testing.assert_allclose(same.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_seed_unet_flops_match_the_published_figure():
    macs = model_macs(build_model(ModelConfig(preset="seed")))
    assert macs == pytest.approx(10.4e9, rel=0.01)  # DESIGN.md: about 10.4 GMAC per image


def test_bad_ratio_is_refused_and_nested_models_are_flattened():
    from edgeseg.errors import UsageError

    with pytest.raises(UsageError, match="channel-ratio"):
        prune_channels(MODELS["unet"](), 1.0)
    inner = _randomize(MODELS["unet"]())
    inp = keras().layers.Input((32, 32, 1))
    nested = keras().Model(inp, inner(inp))
    result = prune_channels(nested, 0.5)
    flat = prune_channels(inner, 0.5)
    assert result.kept == flat.kept
    x = np.random.default_rng(4).random((1, 32, 32, 1), dtype=np.float32)
    np.testing.assert_allclose(result.model(x), flat.model(x), atol=1e-6)


def channels_flops(report: dict) -> int:
    return report["channels"]["flops"]


@pytest.mark.slow
def test_compress_with_channel_pruning_reports_every_artifact_and_flops(tiny_model_path, tmp_path):
    import json

    from conftest import run_cli

    out = tmp_path / "out"
    result = run_cli("compress", str(tiny_model_path), "--prune", "channels", "--channel-ratio", "0.25",
                     "--finetune-steps", "4", "--synthetic-train", "32", "--synthetic-val", "8",
                     "--calibration-samples", "8", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]  # 3 would mean no int8 artifact is deployable
    report = json.loads((out / "report.json").read_text())
    rows = {a["path"]: a for a in report["artifacts"]}
    assert rows["model_int8.tflite"]["deployable"], rows["model_int8.tflite"]  # the unpruned int8 stays in budget
    assert {"model_channels_float32.tflite", "model_channels_float16.tflite", "model_channels_int8.tflite",
            "model_channels.onnx", "model_channels_int8.onnx"} <= rows.keys()
    for name in ("model_channels.onnx", "model_channels_int8.onnx"):  # verified in onnxruntime
        assert rows[name]["runtime"] == "ort-cpu" and rows[name]["dice"] is not None, rows[name]
        assert rows[name]["source"] == "channels" and rows[name]["flops"] == channels_flops(report)
    assert "model_pruned_int8.tflite" not in rows  # channels replace magnitude pruning
    tuned = report["channels"]["finetune"]  # fine-tuning is sized in steps and reported with its Dice curve
    assert tuned["steps"] == 4 and [step for step, _ in tuned["dice_curve"]] == [4]
    assert all(a["flops"] for a in report["artifacts"])
    channels = report["channels"]
    assert channels["flops"] == rows["model_channels_float32.tflite"]["flops"] < report["baseline"]["flops"]
    assert channels["flops_ratio"] < 0.8 and channels["parameters"] < channels["parameters_before"]
    assert channels["input_scale"] == 1.0  # only --prune auto's resolution candidates run the network smaller
    assert rows["model_channels_float32.tflite"]["bytes"] < rows["model_float32.tflite"]["bytes"]
    assert (out / "channels.keras").is_file() and "GFLOPs" in (out / "report.md").read_text()
