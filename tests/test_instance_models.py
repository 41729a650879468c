"""Instance heads: sigmoid channels on the same backbones, the task stored in the spec, and the
int8 TFLite of an instance U-Net mapping every op to the Edge TPU."""
import json

import numpy as np
import pytest

from edgeseg.config import ModelConfig, PreprocessSpec
from edgeseg.errors import UsageError


@pytest.mark.parametrize("arch", ["unet", "deeplab_lite"])
@pytest.mark.parametrize("boundary", [False, True])
def test_instance_head_is_sigmoid_channels_on_the_same_backbone(arch, boundary):
    from edgeseg.models.registry import build_model, spec_for

    semantic = build_model(ModelConfig(arch=arch, preset="tiny"))
    instance = build_model(ModelConfig(arch=arch, preset="tiny", task="instance", boundary=boundary))
    channels = 3 if boundary else 2
    assert tuple(instance.output_shape) == (None, 32, 32, channels)
    assert instance.layers[-1].activation.__name__ == "sigmoid"
    # same backbone: only the last 1x1 convolution differs (its output channels)
    assert [l.name for l in instance.layers] == [l.name for l in semantic.layers]
    assert instance.count_params() - semantic.count_params() == (channels - 1) * (instance.layers[-1].kernel.shape[2] + 1)
    out = instance.predict(np.random.default_rng(0).random((1, 32, 32, 1), dtype=np.float32), verbose=0)
    assert 0.0 <= out.min() and out.max() <= 1.0
    spec = spec_for(ModelConfig(arch=arch, preset="tiny", task="instance", boundary=boundary))
    assert (spec.task, spec.instance_channels, spec.classes) == ("instance", channels, 1)
    assert spec.decode["method"] == "watershed"


def test_spec_round_trip_and_old_specs_still_load():
    from edgeseg.instances.decode import DecodeSettings

    spec = PreprocessSpec(64, 64, task="instance", instance_channels=3,
                          decode=DecodeSettings(seed=0.6).to_dict())
    assert PreprocessSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    old = PreprocessSpec.from_dict({"height": 32, "width": 32, "channels": 1, "normalize": "0-1", "threshold": 0.5,
                                    "classes": 1})
    assert (old.task, old.instance_channels, old.decode) == ("semantic", 0, None)
    with pytest.raises(UsageError, match="task"):
        PreprocessSpec(8, 8, task="panoptic")
    with pytest.raises(UsageError, match="2 or 3"):
        PreprocessSpec(8, 8, task="instance")
    with pytest.raises(UsageError, match="task"):
        ModelConfig(task="detection")


def test_instance_model_saves_and_loads_with_its_spec(tmp_path):
    from edgeseg.models.io import load_model, save_model
    from edgeseg.models.registry import build_model, spec_for

    config = ModelConfig(preset="tiny", task="instance")
    path = save_model(build_model(config), spec_for(config), tmp_path / "inst.keras")
    _, spec = load_model(path)
    assert spec.task == "instance" and spec.instance_channels == 2 and spec.decode["seed"] == 0.5


@pytest.mark.slow
def test_int8_instance_unet_maps_every_op_to_the_edge_tpu(tmp_path):
    from edgeseg.data.instance_data import load_instance_splits
    from edgeseg.config import DataConfig
    from edgeseg.artifacts.edgetpu import check
    from edgeseg.quantize.tflite_int8 import calibrate, quantize_calibrated
    from edgeseg.models.registry import build_model, spec_for
    from edgeseg.runtimes.litert import LiteRTSession
    from edgeseg.artifacts.tflite import finalize, operators, read_spec

    config = ModelConfig(preset="tiny", task="instance", boundary=True)
    spec = spec_for(config)
    model = build_model(config)
    train, _ = load_instance_splits(DataConfig(synthetic_train=8, synthetic_val=1), spec)
    images = train.batch(range(8))[0]
    data = finalize(quantize_calibrated(calibrate(model, images)), spec.to_dict())
    path = tmp_path / "model_int8.tflite"
    path.write_bytes(data)
    report = check(path)
    assert report.ready, [(v.op, v.reason) for v in report.ops if not v.on_tpu] + report.problems
    ops = {op.name for op in operators(data)[0]}
    assert not ops & {"NON_MAX_SUPPRESSION_V4", "NON_MAX_SUPPRESSION_V5", "WHERE", "GATHER_ND", "TOP_K_V2"}
    assert read_spec(data)["task"] == "instance"
    out = LiteRTSession(path).run(images[:1])
    assert out.shape == (1, 32, 32, 3) and 0.0 <= out.min() and out.max() <= 1.0
    _device_side_predicts_instances(path, tmp_path)


def _device_side_predicts_instances(path, tmp_path):
    """Segmenter decodes with the settings stored in the .tflite; predict writes 16-bit id
    masks, per-instance records and overlays coloured by instance."""
    from PIL import Image

    from edgeseg.deploy.predict import predict_all
    from edgeseg.deploy.segmenter import Segmenter

    segmenter = Segmenter(path)
    assert segmenter.spec.task == "instance" and segmenter.spec.decode is not None
    pixels = (np.random.default_rng(0).random((48, 64)) * 255).astype(np.uint8)
    for tile in (False, True):
        prediction = segmenter.predict(pixels, tile=tile)
        assert prediction.mask.shape == (48, 64) and prediction.probabilities.shape == (48, 64, 3)
        assert prediction.instances is not None and len(prediction.instances) == prediction.mask.max()
    Image.fromarray(pixels).save(tmp_path / "img.png")
    assert predict_all(segmenter, [str(tmp_path / "img.png")], tmp_path / "pred", overlay=True) == 1
    with Image.open(tmp_path / "pred" / "img_mask.png") as mask:
        assert mask.mode.startswith("I;16") and mask.size == (64, 48)
    records = json.loads((tmp_path / "pred" / "img_instances.json").read_text())
    assert all({"id", "area", "box", "centroid", "score"} <= set(r) for r in records)
    assert (tmp_path / "pred" / "img_overlay.png").is_file()


def test_instance_colours_differ_between_neighbouring_ids():
    from edgeseg.instances.decode import instance_colours

    colours = instance_colours(np.arange(12).reshape(3, 4))
    assert colours.shape == (3, 4, 3) and colours.dtype == np.uint8
    assert colours[0, 0].tolist() == [0, 0, 0]
    flat = colours.reshape(-1, 3)[1:].astype(int)
    assert all(np.abs(flat[i] - flat[i + 1]).sum() > 60 for i in range(len(flat) - 1))


class _EchoSession:
    """A stand-in network whose output is its input: the image IS the probability map."""

    def run(self, batch):
        return batch


def test_a_tiled_prediction_counts_areas_and_smoothing_on_the_network_grid():
    """Tiles are at the network's own resolution, so min_area and the smoothing window must not
    be scaled as if the image had been enlarged (a 96x96 image on a 32x32 model: 9x the area)."""
    from edgeseg.config import PreprocessSpec
    from edgeseg.data.instance_targets import instance_targets
    from edgeseg.instances.decode import DecodeSettings, decode
    from edgeseg.deploy.segmenter import Segmenter

    yy, xx = np.mgrid[0:96, 0:96]
    truth = np.zeros((96, 96), np.int32)
    centres = [(cy, cx) for cy in range(12, 96, 24) for cx in range(12, 96, 24)]
    for object_id, (cy, cx) in enumerate(centres, start=1):
        truth[(yy - cy) ** 2 + (xx - cx) ** 2 <= 16] = object_id  # radius 4: about 50 pixels each
    probs = instance_targets(truth, boundary=True).astype(np.float32)
    settings = DecodeSettings(min_area=8, smooth=3)
    segmenter = object.__new__(Segmenter)
    segmenter.session = _EchoSession()
    segmenter.spec = PreprocessSpec(32, 32, channels=3, task="instance", instance_channels=3,
                                    decode=settings.to_dict())
    segmenter.decode_settings = settings
    tiled = segmenter.predict(probs, tile=True)
    assert len(tiled.instances) == len(decode(probs, settings)) == len(centres)


def test_predict_refuses_a_model_with_malformed_decode_settings_in_one_line(tmp_path):
    """A model made elsewhere whose stored decoding settings are malformed (a float window: it
    crashed numpy's padding before): one line, exit 2, before any image is read (an ONNX stand-in,
    no TensorFlow needed). Other malformed values: test_instances_decode."""
    smooth = "3.0"
    from onnx import TensorProto, helper
    from PIL import Image

    from conftest import last_error_line, run_cli
    from edgeseg.artifacts.spec_store import store_spec

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 32, 32, 1])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 32, 32, 2])
    reps = helper.make_tensor("reps", TensorProto.INT64, [4], [1, 1, 1, 2])
    graph = helper.make_graph([helper.make_node("Sigmoid", ["input"], ["s"]),
                               helper.make_node("Tile", ["s", "reps"], ["output"])], "g", [x], [y], [reps])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    spec = {"height": 32, "width": 32, "channels": 1, "normalize": "0-1", "classes": 1, "task": "instance",
            "instance_channels": 2, "decode": {"foreground": 0.5, "seed": 0.5, "smooth": json.loads(smooth)}}
    path = tmp_path / "m.onnx"
    path.write_bytes(store_spec(model.SerializeToString(), "onnx", spec))
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "img.png")
    result = run_cli("predict", str(path), str(tmp_path / "img.png"), "--out", str(tmp_path / "pred"))
    assert result.returncode == 2
    assert "smooth" in last_error_line(result)
    assert not (tmp_path / "pred").exists()
