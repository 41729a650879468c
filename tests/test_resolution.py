"""The network at a lower input resolution inside a model that keeps the user's (issue 23: where
int8 pays per pixel, not per channel): the wrapper's shapes, its int8 file's resize ops, the scales
a model cannot take refused as options, the latency table timing the scales, and the study
honouring the table's options (a resolution candidate built, fine-tuned and judged)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from edgeseg.prune.latency_table import SCALE_CELL, LatencyTable, cache_key, measure_table, store_table
from edgeseg.search.logic import Result, propose


def _tiny(size=32, depth=2):
    from edgeseg.models.unet import build_unet

    return build_unet(size, size, 1, 1, 4, depth, True, 0.0)


def test_a_scale_the_model_cannot_take_is_refused_as_an_option_not_a_crash():
    from edgeseg.backend import keras
    from edgeseg.prune.resolution import ScaleRefused, at_scale, total_downsampling, usable_scales

    model = _tiny()  # depth 2: the input is divided by 4
    assert total_downsampling(model) == 4
    kept, refused = usable_scales(model, (0.75, 0.5, 0.3, 0.4375, 1.0))
    assert {s: (k.height, k.width) for s, k in kept.items()} == {0.75: (24, 24), 0.5: (16, 16)}
    assert set(refused) == {0.3, 0.4375, 1.0}  # 9.6 pixels; 14, not divisible by 4
    assert "not a whole multiple" in refused[0.3] and "not between 0 and 1" in refused[1.0]
    kept, refused = usable_scales(model, (0.75, 0.5), min_side=20)  # the search's minimum side
    assert list(kept) == [0.75] and "minimum side" in refused[0.5]
    K = keras()
    inp = K.Input((32, 32, 1))
    dense = K.Model(inp, K.layers.Reshape((32, 32, 1))(K.layers.Dense(32 * 32)(K.layers.Flatten()(inp))))
    with pytest.raises(ScaleRefused):  # not fully convolutional: it cannot run at 16x16
        at_scale(dense, 0.5)


def test_the_search_drops_the_scales_a_model_cannot_run_at_with_their_reason():
    """The review's crash: a graph tied to its input's size (a Reshape to the full size, PReLU's
    per-pixel alpha) passes the size arithmetic but cannot run smaller; the search's option list
    refuses it in a line instead of failing the run. A global-pooling branch is not downsampling,
    and a Keras 3 Lambda (loaded under --unsafe) still runs."""
    import keras as keras3

    from edgeseg.backend import keras
    from edgeseg.prune.resolution import runnable_scales, total_downsampling

    K = keras()
    inp = K.Input((32, 32, 1))
    x = K.layers.Conv2D(4, 3, padding="same")(inp)
    x = K.layers.Reshape((32, 32, 4))(K.layers.Reshape((32 * 32, 4))(x))
    fixed = K.Model(inp, K.layers.Conv2D(1, 1, activation="sigmoid")(x))
    prelu = K.Model(inp, K.layers.Conv2D(1, 1, activation="sigmoid")(K.layers.PReLU()(K.layers.Conv2D(4, 3, padding="same")(inp))))
    for model in (fixed, prelu):
        kept, refused = runnable_scales(model, (0.5,))
        assert not kept and "does not run at" in refused[0.5], refused
    x = K.layers.Conv2D(4, 3, padding="same")(K.layers.MaxPooling2D()(inp))
    gate = K.layers.Reshape((1, 1, 4))(K.layers.GlobalAveragePooling2D()(x))
    pooled = K.Model(inp, K.layers.Conv2D(1, 1)(K.layers.UpSampling2D()(K.layers.Multiply()([x, gate]))))
    assert total_downsampling(pooled) == 2
    i3 = keras3.Input((32, 32, 1))
    y = keras3.layers.Lambda(lambda t: t * 2.0)(keras3.layers.Conv2D(4, 3, padding="same")(i3))
    lam = keras3.Model(i3, keras3.layers.Conv2D(1, 1, activation="sigmoid")(y))
    kept, refused = runnable_scales(lam, (0.5,))
    assert list(kept) == [0.5], refused


def test_the_wrapper_keeps_the_users_shapes_and_leaves_the_users_model_alone():
    from edgeseg.prune.resolution import at_scale, scale_of

    model = _tiny()
    wrapped = at_scale(model, 0.5)
    x = np.random.default_rng(0).random((2, 32, 32, 1)).astype(np.float32)
    assert wrapped(x).shape == model(x).shape == (2, 32, 32, 1)
    assert scale_of(wrapped) == 0.5 and scale_of(model) == 1.0
    assert tuple(wrapped.get_layer("resolution_down").output.shape[1:3]) == (16, 16)
    before = [w.copy() for w in model.get_weights()]
    conv = wrapped.get_layer("enc1_conv1")
    conv.set_weights([w * 0 for w in conv.get_weights()])  # the wrapper's weights are copies
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_a_keras3_model_is_wrapped_with_keras3_layers():
    import keras

    from edgeseg.models.keras3 import is_keras3
    from edgeseg.prune.resolution import at_scale

    inp = keras.Input((32, 32, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    x = keras.layers.UpSampling2D()(keras.layers.MaxPooling2D()(x))
    model = keras.Model(inp, keras.layers.Conv2D(1, 1, activation="sigmoid")(x))
    wrapped = at_scale(model, 0.5)
    assert is_keras3(wrapped) and all(is_keras3(layer) for layer in wrapped.layers)
    x = np.random.default_rng(0).random((1, 32, 32, 1)).astype(np.float32)
    assert np.asarray(wrapped(x)).shape == (1, 32, 32, 1)


def test_the_latency_table_times_each_scale_in_the_first_pass_and_keeps_those_beyond_the_noise(tmp_path):
    built, runs = [], []
    passes = iter([[10.0, 9.95, 9.9, 10.1, 5.0, 9.9]])

    def build(counts):
        built.append(dict(counts))
        return tmp_path / f"m{len(built)}.tflite"

    def build_scaled(scale):
        built.append({SCALE_CELL: scale})
        return tmp_path / f"m{len(built)}.tflite"

    def time_paths(paths):
        runs.append([built[int(p.stem[1:]) - 1] for p in paths])
        return next(passes)

    table = measure_table({"narrow": 12}, build, time_paths, "litert-cpu", "probe", 2, scales=(0.75, 0.5),
                          build_scaled=build_scaled)
    # one pass (no channel step to refine): the scales are cells beside the unpruned copies
    assert runs == [[{}, {"narrow": 8}, {SCALE_CELL: 0.75}, {}, {SCALE_CELL: 0.5}, {}]]
    assert table.base_ms == pytest.approx(10.0) and table.noise_ms == pytest.approx(0.4)  # copies 10.0/10.1/9.9
    assert table.scales == pytest.approx({0.75: 9.9, 0.5: 5.0})
    assert table.faster_scales() == pytest.approx({0.5: 5.0})  # 0.75 saves 0.1 ms, inside the noise: no option
    assert LatencyTable.from_dict(table.to_dict()) == table
    old = table.to_dict()
    del old["scales"]
    assert LatencyTable.from_dict(old).scales == {}  # a table cached before scales were timed offers none


def _planner(tmp_path, scales):
    from edgeseg.search.per_layer_plan import TABLE_FILE, PerLayerPlanner

    table = LatencyTable("litert-cpu", "m", 2, 10.0, 0.2, {"a": {32: 10.0, 8: 9.9}}, scales)
    store_table(tmp_path / TABLE_FILE, cache_key("sha", "litert-cpu", "m", 2), table)
    return PerLayerPlanner(ctx=None, model_sha256="sha", runtime=SimpleNamespace(name="litert-cpu"), machine="m",
                           threads=2, cache=tmp_path, scratch=tmp_path / "scratch")


class _Trial:
    def __init__(self):
        self.user_attrs = {}

    def set_user_attr(self, key, value):
        self.user_attrs[key] = value


def test_the_study_proposes_only_the_scales_the_table_measured_faster(tmp_path):
    from edgeseg.search.trial import _plan

    planner = _planner(tmp_path, {0.75: 6.0, 0.5: 3.0, 0.625: 9.9})  # 0.625: inside the 0.2 ms noise
    assert planner.scale_points() == {0.7: 0.5, 0.4: 0.75}
    points = {"resolution": lambda: list(planner.scale_points())}
    empty = Result("per_layer", 0.5, False, empty=True)
    # where the table offers scales, the resolution kind goes first, at the table's own cuts, fastest first
    assert propose([], 4, points=points) == ("resolution", 0.7)
    assert propose([Result("resolution", 0.7, True, ceiling=True)], 4, points=points) == ("uniform", 0.5)
    assert propose([Result("resolution", 0.7, True, ceiling=True), Result("uniform", 0.5, True)], 4,
                   points=points) == ("per_layer", 0.5)
    only = ("resolution",)
    assert propose([Result("resolution", 0.7, False)], 5, only, points) == ("resolution", 0.4)  # a miss: gentler
    assert propose([Result("resolution", 0.4, True)], 5, only, points) == ("resolution", 0.7)  # a hit: bolder
    assert propose([Result("resolution", 0.7, False), Result("resolution", 0.4, False)], 5, only, points) is None
    assert propose([Result("uniform", 0.5, True), empty], 4) == ("uniform", 0.75)  # no table: never proposed
    assert propose([Result("uniform", 0.5, True), empty], 4, points={"resolution": lambda: []}) == ("uniform", 0.75)
    trial = _Trial()
    assert _plan("resolution", 0.7, planner, trial, lambda _: None) == ({"kind": "resolution", "scale": 0.5}, None)
    assert trial.user_attrs == {"scale": 0.5, "ceiling": True, "estimated_ms": 3.0}
    assert _plan("resolution", 0.4, planner, _Trial(), lambda _: None)[0]["scale"] == 0.75


@pytest.mark.slow
def test_a_resolution_candidate_is_built_fine_tuned_and_judged_at_full_resolution(tmp_path):
    from edgeseg.artifacts.tflite import operators
    from edgeseg.config import CompressConfig, DataConfig, PreprocessSpec
    from edgeseg.data.dataset import calibration_images, load_splits
    from edgeseg.scoring.budget import Budget
    from edgeseg.search.context import SearchInputs
    from edgeseg.search.trial import cached_candidate, load_winner
    from edgeseg.prune.resolution import scale_of
    from edgeseg.runtimes.litert_profile import delegation
    from edgeseg.runtimes.litert_upsample import cpu_model

    spec = PreprocessSpec(32, 32)
    train, val = load_splits(DataConfig(synthetic_train=16, synthetic_val=8), spec)
    config = CompressConfig(finetune_steps=4, finetune_min_steps=2)
    ctx = SearchInputs(_tiny(), train, val, config, spec.to_dict(), calibration_images(train, 8, 8),
                       Budget(0.5, 1.0), 0.0, {}, lambda _: None)
    record, reused = cached_candidate(0.7, ctx, tmp_path, "key", None, scale=0.5)
    assert not reused and record["kind"] == "resolution" and record["scale"] == 0.5
    assert record["finetune"]["steps"] >= 2 and 0.0 <= record["dice"] <= 1.0 and "dice" in record["scores"]
    int8 = tmp_path / "key" / "int8.tflite"
    ops = [info.name for info in operators(int8.read_bytes())[0]]
    assert ops.count("RESIZE_BILINEAR") == 2 and ops[0] != "CONV_2D"  # the resizes are inside the file
    assert delegation(cpu_model(int8)[0], 1)[1] == 1  # one XNNPACK partition (as the LiteRT session loads it)
    winner = load_winner(tmp_path, "key")
    assert scale_of(winner.model) == 0.5 and tuple(winner.model.output.shape[1:3]) == (32, 32)
    assert cached_candidate(0.7, ctx, tmp_path, "key", None, scale=0.5)[1]  # the second time from the cache


def test_the_report_and_the_verdict_name_a_resolution_winners_scale():
    from edgeseg.artifacts.study_record import StudyRecord, StudyRow
    from edgeseg.compress.verdict import _scale_lines
    from edgeseg.search.report import study_markdown

    row = StudyRow(3, 0.7, 0.933, 1000, 2.1, "litert-cpu", "m", kind="resolution", scale=0.5)
    study = StudyRecord("optuna", "s.sqlite3", "litert-cpu", "m", 0.93, 1.0, 1, winner=0.7, winner_row=row,
                        candidates=[row], int8_p50_ms=7.2, winner_kind="resolution")
    assert "resolution (input scale 0.5) ratio 0.7" in "\n".join(study_markdown(study))
    shipped = {"tflite": SimpleNamespace(path="model_channels_int8.tflite")}
    lines = _scale_lines(SimpleNamespace(study=study), shipped)
    assert len(lines) == 1 and "shipped channels artifacts run the network at input scale 0.5" in lines[0]
    assert "7.2 ms" in lines[0]
    refused = _scale_lines(SimpleNamespace(study=study), {"tflite": SimpleNamespace(path="model_int8.tflite")})
    assert "none of its artifacts ships" in refused[0]
    assert _scale_lines(SimpleNamespace(study=None), shipped) == []


def test_a_resolution_candidate_this_machines_table_does_not_offer_is_stopped_not_crashed(tmp_path):
    import optuna

    from edgeseg.search.trial import _plan

    trial = _Trial()
    with pytest.raises(optuna.TrialPruned):  # proposed by a worker elsewhere; here no scale beats the noise
        _plan("resolution", 0.7, _planner(tmp_path, {0.5: 9.9}), trial, lambda _: None)
    assert trial.user_attrs["empty"] is True and "no input scale" in trial.user_attrs["stopped_because"]


def test_a_scale_the_network_cannot_run_at_is_dropped_from_the_latency_table_not_a_crash(tmp_path, monkeypatch):
    """Issue 24's KerasHub DeepLabV3: its sizes fit the scales, but its nested backbone refuses any other
    input size; `--prune auto` ended in a ScaleRefused traceback (exit 1) while measuring the table."""
    from edgeseg.backend import keras
    from edgeseg.search import per_layer_plan

    K = keras()
    inp = K.Input((32, 32, 1))
    x = K.layers.Conv2D(4, 3, padding="same")(inp)
    x = K.layers.Reshape((32, 32, 4))(K.layers.Reshape((32 * 32, 4))(x))  # a fixed size inside: 32x32 only
    model = K.Model(inp, K.layers.Conv2D(1, 1, activation="sigmoid")(x))
    monkeypatch.setattr(per_layer_plan, "MIN_SCALED_SIDE", 1)
    seen = {}

    def measure(spaces, build_int8, time_paths, *args, scales, build_scaled, **kwargs):
        seen["scales"] = [(s, build_scaled(s)) for s in scales]  # as measure_table builds each scale's cell
        return LatencyTable("litert-cpu", "m", 2, 1.0, 0.1, {}, {})

    monkeypatch.setattr(per_layer_plan, "measure_table", measure)
    logged = []
    planner = per_layer_plan.PerLayerPlanner(
        ctx=SimpleNamespace(model=model, timing_image=lambda: None, log=logged.append,
                            config=SimpleNamespace(edgetpu=False)), model_sha256="sha",
        runtime=SimpleNamespace(name="litert-cpu"), machine="m", threads=2, cache=tmp_path, scratch=tmp_path / "s")
    assert planner.scale_points() == {}
    assert seen["scales"] == []
    assert any("input scale 0.5 is not an option: the network does not run at 16x16" in line for line in logged)
