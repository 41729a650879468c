"""Users' own architectures (issue 24): nested models flattened with equal outputs, channel-pruned
across residual, depthwise, transposed, concatenated, gated (Multiply), dilated/ASPP, pooled and
resized layers; BatchNorm statistics re-estimated after pruning."""
import os

import numpy as np
import pytest
from foreign_zoo import ZOO, mobilenet_unet, randomize

from edgeseg.backend import keras
from edgeseg.models.flops import model_macs
from edgeseg.prune.batchnorm import batchnorm_layers, reestimate_batchnorm
from edgeseg.prune.channels import channel_plan, prunable_share, prune_channels
from edgeseg.prune.flatten import check_equal, flatten_model, nests


def images(n=4, seed=1):
    return np.random.default_rng(seed).random((n, 32, 32, 1), dtype=np.float32)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_flattening_keeps_the_outputs_and_leaves_the_model_alone(name):
    model = randomize(ZOO[name]())
    before = [w.copy() for w in model.get_weights()]
    flat = flatten_model(model)
    assert not nests(flat)
    np.testing.assert_allclose(flat(images(), training=False), model(images(), training=False), atol=1e-5)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_the_nested_zoo_model_really_nests():
    model = mobilenet_unet()
    assert nests(model) and {type(layer).__name__ for layer in model.layers} >= {"Functional", "Sequential"}


def test_a_flattening_that_changes_the_output_is_refused():
    from edgeseg.errors import ModelError

    model = randomize(mobilenet_unet())
    wrong = randomize(mobilenet_unet(), seed=5)
    with pytest.raises(ModelError, match="changed its output"):
        check_equal(model, flatten_model(wrong))


def _zero_removed(flat, plan):
    """The flat model with every channel the plan removes set to zero where it is made."""
    for layer in flat.layers:
        kind, weights = type(layer).__name__, layer.get_weights()
        if not weights or kind not in ("Conv2D", "Conv2DTranspose", "Dense", "DepthwiseConv2D", "BatchNormalization"):
            continue
        removed = np.setdiff1d(np.arange(int(layer.output.shape[-1])), plan[layer.name])
        if kind == "BatchNormalization":  # gamma and beta: the channel leaves it as zero
            weights[0][removed] = weights[1][removed] = 0
        elif kind == "Conv2DTranspose":
            weights[0][:, :, removed] = 0
        elif kind in ("Conv2D", "Dense"):
            weights[0][..., removed] = 0
        if kind != "BatchNormalization" and layer.use_bias:
            weights[-1][removed] = 0
        layer.set_weights(weights)
    return flat


@pytest.mark.parametrize("name", sorted(ZOO))
def test_pruned_model_equals_the_original_with_removed_channels_zeroed(name):
    model = randomize(ZOO[name]())
    result = prune_channels(model, 0.5)
    flat = flatten_model(model)
    expected = keras().models.clone_model(flat)
    expected.set_weights(flat.get_weights())
    _zero_removed(expected, channel_plan(model, 0.5))
    np.testing.assert_allclose(result.model(images(), training=False), expected(images(), training=False),
                               atol=1e-5)
    assert model_macs(result.model) < 0.6 * model_macs(model)
    assert result.prunable_macs == pytest.approx(prunable_share(model))


def test_the_channel_groups_of_users_layers():
    flat = flatten_model(randomize(mobilenet_unet()))
    convs = [layer.name for layer in flat.layers if type(layer).__name__ == "Conv2D"]
    plan = channel_plan(flat, 0.5)
    stem, expand, project = convs[0], convs[1], convs[2]
    np.testing.assert_array_equal(plan[stem], plan[project])  # the residual Add's group
    depthwise = next(layer.name for layer in flat.layers if type(layer).__name__ == "DepthwiseConv2D")
    np.testing.assert_array_equal(plan[depthwise], plan[expand])  # depthwise in lockstep with its producer
    assert len(plan[expand]) == 4 and len(plan[stem]) == 2


def test_attention_gates_and_aspp_are_pruned_around_their_frozen_parts():
    attention = prune_channels(randomize(ZOO["attention_unet"]()), 0.5)
    gates = [name for name, (kept, total) in attention.kept.items() if total == 1]
    assert len(gates) == 2 and set(gates) <= set(attention.frozen)  # the psi map and the output head
    assert attention.prunable_macs > 0.8
    aspp = prune_channels(randomize(ZOO["aspp"]()), 0.5)
    assert {kept for kept, total in aspp.kept.values() if total == 4} == {2}  # every branch and the pooled one
    assert aspp.prunable_macs > 0.8


def test_an_unknown_layer_freezes_only_its_own_group():
    result = prune_channels(randomize(ZOO["unknown"]()), 0.5)
    kept = [result.kept[name] for name in sorted(result.kept)]
    assert (4, 4) in kept and (2, 4) in kept  # before the LayerNormalization: kept whole; after it: pruned
    assert 0.0 < result.prunable_macs < 1.0


def test_batchnorm_statistics_are_re_estimated_whatever_the_momentum():
    model = randomize(mobilenet_unet())
    x = images(8)
    encoder = model.get_layer("encoder")
    first_bn = batchnorm_layers(model)[0]
    conv = encoder.layers[1]
    stale = first_bn.moving_mean.numpy().copy()
    used = reestimate_batchnorm(model, [x])
    assert used == 1
    feature = keras().Model(encoder.inputs, conv.output)(x).numpy()
    np.testing.assert_allclose(first_bn.moving_mean.numpy(), feature.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-5)
    assert not np.allclose(stale, first_bn.moving_mean.numpy())
    assert all(layer.momentum == 0.999 for layer in batchnorm_layers(model))  # the user's momentum is kept
    # two batches: the plain average of both batches' means, not a momentum-weighted one
    reestimate_batchnorm(model, [x[:4], x[4:]])
    halves = [keras().Model(encoder.inputs, conv.output)(h).numpy().mean(axis=(0, 1, 2)) for h in (x[:4], x[4:])]
    np.testing.assert_allclose(first_bn.moving_mean.numpy(), np.mean(halves, axis=0), rtol=1e-4, atol=1e-5)


def test_dropout_does_not_disturb_the_re_estimation():
    L = keras().layers
    inp = L.Input((32, 32, 1))
    x = L.Dropout(0.5)(L.Conv2D(4, 3, padding="same")(inp))
    model = keras().Model(inp, L.BatchNormalization()(x))
    reestimate_batchnorm(model, [images()])
    first = model.layers[-1].moving_mean.numpy().copy()
    reestimate_batchnorm(model, [images()])
    np.testing.assert_array_equal(first, model.layers[-1].moving_mean.numpy())
    assert model.layers[2].rate == 0.5


@pytest.mark.slow
def test_nested_model_is_pruned_and_fine_tuned_with_fresh_batchnorm():
    from edgeseg.config import DataConfig, PreprocessSpec
    from edgeseg.data.dataset import load_splits
    from edgeseg.prune.gradual import prune_channels_and_finetune
    from edgeseg.training.finetune import FinetuneBudget

    train, val = load_splits(DataConfig(synthetic_train=16, synthetic_val=4), PreprocessSpec(32, 32))
    model = mobilenet_unet()
    budget = FinetuneBudget(max_steps=4, min_steps=0, eval_every=2)
    results = {bn: prune_channels_and_finetune(model, train, val, 0.5, budget, 8, 1, verbose=0, criterion="l1",
                                               batchnorm=bn) for bn in (True, False)}
    for result in results.values():
        assert not nests(result.model) and result.finetune.steps == 4
        assert 0.5 < result.prunable_macs <= 1.0
    fresh, stale = (batchnorm_layers(results[bn].model)[0].moving_variance.numpy() for bn in (True, False))
    assert not np.allclose(fresh, stale)  # 4 steps at momentum 0.999 barely move the stale statistics
    assert np.allclose(stale, 1.0, atol=0.05)


def keras_hub_deeplab(path, size=32):
    """A tiny KerasHub DeepLabV3 (ResNet backbone, ASPP with dilated branches), saved by Keras 3."""
    keras_hub = pytest.importorskip("keras_hub", reason="keras_hub is the optional extra `hub` "
                                    "(pip install -e '.[hub]'); the dev set leaves it out")
    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 8, 8],
        stackwise_num_blocks=[1, 1, 1], stackwise_num_strides=[1, 2, 2], block_type="basic_block",
        use_pre_activation=False, image_shape=(size, size, 3))  # KerasHub insists on 64 filters first
    deeplab = keras_hub.models.DeepLabV3Backbone(
        image_encoder=backbone, low_level_feature_key="P2", spatial_pyramid_pooling_key="P4", dilation_rates=[2, 4],
        upsampling_size=4, projection_filters=8, image_shape=(size, size, 3))
    model = keras_hub.models.DeepLabV3ImageSegmenter(backbone=deeplab, num_classes=1, activation="sigmoid")
    model.save(path)
    return path


@pytest.mark.slow
def test_a_keras_hub_model_compresses_with_no_custom_objects(tmp_path, capsys):
    """Its classes are registered by the installed package: no --custom-objects, no --unsafe. The
    ASPP block has no tf_keras twin and runs as it is; channel pruning works around it. (ONNX only:
    each TFLite conversion of this 130-layer graph costs about 20 s on the shared test machine.)"""
    from edgeseg.compress.pipeline import compress
    from edgeseg.config import CompressConfig, DataConfig

    path = keras_hub_deeplab(tmp_path / "deeplab.keras")
    config = CompressConfig(data=DataConfig(synthetic_train=16, synthetic_val=8), prune="channels",
                            formats=("onnx",), finetune_steps=2, finetune_min_steps=0, calibration_samples=4)
    report = compress(path, config, tmp_path / "out")
    text = capsys.readouterr().out
    assert "FLOPs leave out" in text and "(SpatialPyramidPooling)" in text
    names = {a.path for a in report.artifacts}
    assert {"model_int8.onnx", "model_channels_int8.onnx"} <= names and not any("qat" in n for n in names)
    assert report.channels.kept_filters  # something was pruned around the carried block
    assert any(kept < total for kept, total in report.channels.kept_filters.values())
    from edgeseg.models.io import load_model

    load_model(tmp_path / "out" / "channels.keras")  # the carried block reloads (the search's winner is read so)


def test_a_worker_that_dies_natively_is_one_line_and_the_run_goes_on(tmp_path):
    """Issue 24 item 6: a native abort in fine-tuning (exit 134) took the whole search down. A
    scripted worker calls os.abort() on its first trial, before Optuna's heartbeat thread has beaten
    (CI once saw that race: the trial had no heartbeat and read as alive forever); the run's own
    worker says so in one line, runs that candidate again and finishes the queue."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from study_worker import scripted

    from edgeseg.search.study import Outcome, join_study, open_study, rows, work

    location = str(tmp_path / "study.sqlite3")
    open_study(location, {"model": "scripted"}, [0.5, 0.75], heartbeat_s=1, grace_s=2)
    worker = Path(__file__).with_name("study_worker.py")
    dying = subprocess.run([sys.executable, str(worker), location, str(tmp_path / "log"), "--abort"],
                           env=dict(os.environ, PYTHONPATH=str(worker.parents[1])), capture_output=True, timeout=120)
    assert dying.returncode == -signal.SIGABRT
    said = []

    def evaluate(ratio, trial):
        latency, dice, size = scripted(ratio)
        return Outcome(latency, dice, size, "scripted", "m", {})

    study = join_study(location, heartbeat_s=1, grace_s=2)
    import time

    # past the grace period: the dead worker's heartbeat is stale. SQLite's clock (Optuna reads
    # `now()` from the database) counts whole seconds, so 2 s of grace can read as 1 s for up to 3 s
    time.sleep(4.0)
    assert work(study, evaluate, seconds=60, log=said.append) == 2
    assert sorted(r.ratio for r in rows(join_study(location))) == [0.5, 0.75]
    failed = [line for line in said if "failed" in line]
    assert failed == ["      trial 0 (ratio 0.500) failed: its worker stopped (killed, or crashed natively); queued again"]


def test_the_study_fine_tunes_without_onednn_unless_the_user_chose(monkeypatch):
    import sys

    from edgeseg import backend

    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    assert backend.without_onednn_for_training() and os.environ["TF_ENABLE_ONEDNN_OPTS"] == "0"
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    assert not backend.without_onednn_for_training() and os.environ["TF_ENABLE_ONEDNN_OPTS"] == "1"


def test_the_model_that_crashes_onednn_training_is_found_before_tensorflow(tmp_path):
    """A 1x1 stride-2 Conv2D (ResNet shortcut, attention gate) anywhere in the stored config, nested too."""
    import json

    from conftest import fake_keras_archive

    from edgeseg.models.inspect_config import crashes_onednn_training

    def conv(kernel, strides):
        return {"class_name": "Conv2D", "config": {"name": "c", "kernel_size": kernel, "strides": strides}}

    def model(*layers):
        inner = {"class_name": "Functional", "config": {"layers": list(layers)}}
        return fake_keras_archive(tmp_path / f"m{len(list(tmp_path.iterdir()))}.keras",
                                  config=json.dumps({"class_name": "Functional", "config": {"layers": [inner]}}))

    assert crashes_onednn_training(model(conv([3, 3], [1, 1]), conv([1, 1], [2, 2])))
    assert crashes_onednn_training(model(conv(1, 2)))
    assert not crashes_onednn_training(model(conv([3, 3], [2, 2]), conv([1, 1], [1, 1])))
    assert not crashes_onednn_training(tmp_path / "missing.keras")
    # KerasHub's DeepLabV3 stores its ResNet backbone's arguments, not its 1x1 stride-2 shortcuts
    hub = {"module": "keras_hub.src.models.resnet.resnet_backbone", "class_name": "ResNetBackbone",
           "registered_name": "keras_hub>ResNetBackbone", "config": {"stackwise_num_strides": [1, 2, 2]}}
    assert crashes_onednn_training(model(hub))
    assert not crashes_onednn_training(model({**conv(3, 1), "module": "keras.layers"}))
