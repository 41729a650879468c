"""Issue 24 item 2, Keras 3 first: channel pruning, Taylor ranking, fine-tuning and distillation run on a
Keras 3 model as it is. For the graphs users bring (a plain U-Net, a nested Model with Sequential blocks,
residual Add, depthwise, Conv2DTranspose, attention gates as a Multiply layer and as a `keras.ops` call),
the Keras 3 model is pruned to the planned channel counts, and equals what the tf_keras path gives (the
rebuild, or the same graph built in tf_keras, pruned with the same plan)."""
import json

import foreign_zoo
import numpy as np
import pytest

from edgeseg.prune.channels import kept_count, prune_channels


@pytest.fixture(scope="module")
def k3():
    from edgeseg.backend import keras as tf_keras_module

    tf_keras_module()
    import keras

    return keras


def _images(n=2, seed=1):
    return np.random.default_rng(seed).random((n, 32, 32, 1), dtype=np.float32)


def _op_gate(K, resize):
    """An attention gate whose multiply, add and resize are ops (`keras.ops` calls in Keras 3, TFOpLambda
    layers in tf_keras), beside a Conv2DTranspose: one graph, written once for both Kerases."""
    L = K.layers
    inp = L.Input((32, 32, 1), name="image")
    skip = L.Conv2D(4, 3, padding="same", activation="relu", name="skip")(inp)
    gating = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="gating")(skip)
    psi = L.Conv2D(1, 1, activation="sigmoid", name="psi")(L.UpSampling2D(2, name="psi_up")(gating))
    gated = skip * psi + skip * 0.5  # a one-channel gate broadcast over the skip; a scalar passes through
    up = L.Conv2DTranspose(4, 2, strides=2, padding="same", name="up")(gating)
    x = L.Concatenate(name="concat")([resize(up), gated])
    x = L.Conv2D(4, 3, padding="same", activation="relu", name="mix")(x)
    return K.Model(inp, L.Conv2D(1, 1, activation="sigmoid", name="head")(x), name="op_gate")


def _keras3_models(k3, monkeypatch) -> dict:
    """Builders of Keras 3 models, from the same code that builds the tf_keras ones."""
    import edgeseg.models.unet as unet

    monkeypatch.setattr(foreign_zoo, "keras", lambda: k3)
    monkeypatch.setattr(unet, "keras", lambda: k3)
    resize = lambda x: k3.ops.image.resize(x, (32, 32))  # noqa: E731 - an op that keeps the channels
    return {"unet": lambda: unet.build_unet(32, 32, 1, 1, 4, 2, batchnorm=True, dropout=0.2),
            "mobilenet_unet": foreign_zoo.mobilenet_unet, "attention_unet": foreign_zoo.attention_unet,
            "op_gate": lambda: _op_gate(k3, resize)}


def _tf_keras_twin(name, model):
    """The tf_keras path's model: the rebuild, or for the ops graph (which the rebuild does not take)
    the same graph built in tf_keras with the Keras 3 model's weights, layer by layer."""
    from edgeseg.backend import keras, tf
    from edgeseg.models.keras3 import rebuild

    if name != "op_gate":
        return rebuild(model)
    twin = _op_gate(keras(), lambda x: tf().image.resize(x, (32, 32)))
    for layer in model.layers:
        if layer.weights:
            twin.get_layer(layer.name).set_weights(layer.get_weights())
    return twin


@pytest.mark.parametrize("name", ["unet", "mobilenet_unet", "attention_unet", "op_gate"])
def test_a_keras3_model_is_pruned_as_keras3_and_equals_the_tf_keras_path(k3, monkeypatch, name):
    from edgeseg.models.keras3 import is_keras3

    model = foreign_zoo.randomize(_keras3_models(k3, monkeypatch)[name]())
    result = prune_channels(model, 0.5)
    assert is_keras3(result.model)
    for producer, (kept, total) in result.kept.items():
        expected = total if producer in result.frozen else kept_count(total, 0.5)
        assert kept == expected and int(result.model.get_layer(producer).output.shape[-1]) == kept, producer
    assert len(result.frozen) < len(result.kept) and result.model.count_params() < model.count_params()

    twin = _tf_keras_twin(name, model)
    np.testing.assert_allclose(np.asarray(twin(_images(), training=False)),
                               np.asarray(model(_images(), training=False)), atol=1e-5)
    legacy = prune_channels(twin, 0.5)
    assert not is_keras3(legacy.model)
    assert (legacy.kept, legacy.frozen, legacy.prunable_macs) == (result.kept, result.frozen, result.prunable_macs)
    np.testing.assert_allclose(np.asarray(result.model(_images(), training=False)),
                               np.asarray(legacy.model(_images(), training=False)), atol=1e-5)


def test_a_sequential_model_is_pruned_in_both_kerases(k3):
    """A top-level Sequential has no input layer among its layers: its graph is replayed as a functional one."""
    from edgeseg.backend import keras
    from edgeseg.models.keras3 import is_keras3

    for K in (keras(), k3):
        L = K.layers
        model = K.Sequential([K.Input((32, 32, 1)), L.Conv2D(4, 3, padding="same", name="a"), L.ReLU(),
                              L.Conv2D(4, 3, padding="same", name="b"), L.Conv2D(1, 1, name="head")])
        result = prune_channels(model, 0.5)
        assert result.kept == {"a": (2, 4), "b": (2, 4), "head": (1, 1)}
        assert is_keras3(result.model) == is_keras3(model)


def test_keras3_ops_are_read_by_their_own_kind(k3):
    """`keras.ops` calls share class names with layers (Add, Multiply): they are mapped by their own kind;
    one with a per-channel constant is not, so its channels stay."""
    from edgeseg.prune.graph_links import op_kind, operations

    model = _op_gate(k3, lambda x: k3.ops.image.resize(x, (32, 32)))
    kinds = {op_kind(op) for op in operations(model)}
    assert {"op:math.multiply", "op:math.add", "op:image.resize", "Concatenate", "Conv2DTranspose"} <= kinds
    L = k3.layers
    inp = L.Input((32, 32, 1))
    x = L.Conv2D(4, 3, padding="same", name="scaled")(inp) * np.arange(1, 5, dtype="float32")
    head = L.Conv2D(1, 1, name="head")(L.Conv2D(4, 3, padding="same", name="plain")(x))
    result = prune_channels(k3.Model(inp, head), 0.5)
    assert result.kept["scaled"] == (4, 4) and result.kept["plain"] == (2, 4)


def test_a_pruned_keras3_model_is_rebuilt_with_its_load_flags_and_reloads_as_keras3(k3, tmp_path):
    """TFLite traces a Keras 3 nearest upsampling through the rebuild (models/keras3.WORSE_IN_TFLITE): the
    pruned model's rebuild honours --unsafe as the user's model's does; a saved candidate reloads as Keras 3."""
    from edgeseg.config import PreprocessSpec
    from edgeseg.models.io import load_model, save_model
    from edgeseg.models.keras3 import as_tf_keras, is_keras3, tflite_source
    from edgeseg.search.trial import CANDIDATE, load_winner

    L = k3.layers
    inp = L.Input((32, 32, 1))
    x = L.Conv2D(4, 3, padding="same", name="conv")(L.Lambda(lambda t: t * 2.0, name="double")(inp))
    up = L.UpSampling2D(2, name="up")(L.MaxPooling2D(name="pool")(x))
    path = tmp_path / "lambda.keras"
    k3.Model(inp, L.Conv2D(1, 1, activation="sigmoid", name="head")(up)).save(path)
    kept, _ = load_model(path, unsafe=True, keep_keras3=True)
    pruned = prune_channels(kept, 0.5).model
    assert is_keras3(pruned) and not is_keras3(tflite_source(pruned))
    assert not is_keras3(as_tf_keras(pruned))  # the Lambda is taken under the flag the model was loaded with

    save_model(pruned, PreprocessSpec(32, 32, 1, "0-1"), tmp_path / "k" / "model.keras")
    tuned = {"steps": 2, "dice_curve": [], "best_step": None, "best_dice": None, "stopped_because": "x", "seconds": 0}
    (tmp_path / "k" / CANDIDATE).write_text(json.dumps({"finetune": tuned, "kept": {}, "ratio": 0.5, "frozen": []}))
    winner = load_winner(tmp_path, "k", unsafe=True).model
    assert is_keras3(winner)
    np.testing.assert_allclose(np.asarray(winner(_images())), np.asarray(pruned(_images())), atol=1e-6)


@pytest.mark.slow
def test_keras3_ranking_fine_tuning_and_distillation_need_no_rebuild(k3, monkeypatch):
    import edgeseg.models.keras3 as keras3
    from edgeseg.config import DataConfig, PreprocessSpec
    from edgeseg.data.dataset import load_splits
    from edgeseg.prune.flatten import flatten_model
    from edgeseg.prune.ranking import taylor_scores
    from edgeseg.training.finetune import FinetuneBudget, finetune

    train, val = load_splits(DataConfig(synthetic_train=16, synthetic_val=4), PreprocessSpec(32, 32, 1, "0-1"))
    model = foreign_zoo.randomize(_keras3_models(k3, monkeypatch)["mobilenet_unet"]())
    flat = flatten_model(model)
    legacy = keras3.rebuild(flat)  # the tf_keras path, for the ranking's reference
    expected = taylor_scores(legacy, train, 1, 8, max_images=16)

    monkeypatch.setattr(keras3, "rebuild", lambda *a, **k: pytest.fail("a rebuild was made"))
    scores = taylor_scores(flat, train, 1, 8, max_images=16)
    assert sorted(scores) == sorted(expected)
    for name, score in scores.items():
        np.testing.assert_allclose(score, expected[name], rtol=1e-3, atol=1e-7, err_msg=name)

    before = [w.copy() for w in flat.get_weights()]
    budget = FinetuneBudget(max_steps=3, min_steps=0, eval_every=3)
    tuned = finetune(flat, train, val, budget, 1, 8, verbose=0, teacher=model, distill_weight=0.5)
    assert tuned.steps == 3 and len(tuned.dice_curve) == 1
    changed = [not np.array_equal(a, b) for a, b in zip(before, flat.get_weights())]
    assert all(changed)  # every kernel trained, every BatchNorm statistic moved (the pruning maker's whole path:
    # test_keras3_first.py, compress --prune channels on a Keras 3 file)
    pruned = prune_channels(flat, 0.5, scores).model
    assert keras3.is_keras3(pruned)
    assert keras3.tflite_source(pruned) is pruned  # no nearest UpSampling2D: TFLite needs no rebuild
