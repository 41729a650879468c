"""The device side: the TensorFlow-free runtime, predict, bundles and the Edge TPU check, on
the tiny model's real compress output."""
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from conftest import last_error_line, run_cli, run_python_without, run_python_without_tensorflow


pytestmark = pytest.mark.slow  # every test here trains, converts or compresses


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Synthetic images larger than the tiny model's 32x32 input, and not square."""
    from edgeseg.data.synthetic import synth_sample

    root = tmp_path_factory.mktemp("images")
    for i, (h, w) in enumerate([(48, 80), (96, 64)]):
        pixels, _ = synth_sample(h, w, i, seed=5)
        Image.fromarray(pixels[..., 0]).save(root / f"img{i}.png")
    return root


def test_device_runtime_runs_an_int8_model_without_tensorflow(compressed):
    """Scores the int8 artifact through the device runtime with TensorFlow unimportable and
    gets compress's own Dice for it, on the same validation images."""
    out = compressed[1]
    code = f"""
import json, sys
from pathlib import Path
from edgeseg.config import DataConfig
from edgeseg.data.dataset import load_splits
from edgeseg.deploy.segmenter import Segmenter
from edgeseg.metrics import ScoreAccumulator
seg = Segmenter(Path({str(out / 'model_int8.tflite')!r}))
assert seg.spec_source == "stored with the model", seg.spec_source
_, val = load_splits(DataConfig(synthetic_val=16), seg.spec)
acc = ScoreAccumulator()
for i in range(len(val)):
    unit, truth = val.unit_sample(i)
    acc.update(seg.predict((unit * 255).round().astype("uint8")).mask, truth)
odd = seg.predict(__import__("numpy").zeros((45, 71), "uint8"))
print(json.dumps({{"dice": acc.result()["dice"], "shape": list(odd.mask.shape),
                  "tf": "tensorflow" in sys.modules or "tf_keras" in sys.modules}}))
"""
    result = run_python_without_tensorflow(code)
    assert result.returncode == 0, result.stderr[-3000:]
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["tf"] is False
    assert measured["shape"] == [45, 71]  # masks come back at the image's own size
    report = json.loads((out / "report.json").read_text())
    compress_dice = next(a["dice"] for a in report["artifacts"] if a["path"] == "model_int8.tflite")
    # The same images, 8-bit rounded here: within rounding of compress's measurement.
    assert measured["dice"] == pytest.approx(compress_dice, abs=0.01)


def test_spec_travels_inside_tflite_and_onnx_artifacts(compressed):
    from edgeseg.artifacts.onnx import read_spec as onnx_spec
    from edgeseg.artifacts.tflite import read_spec

    out = compressed[1]
    spec = json.loads((out / "report.json").read_text())["spec"]
    for name in ("model_float32.tflite", "model_int8.tflite", "model_pruned_int8.tflite"):
        assert read_spec((out / name).read_bytes()) == spec, name
    for name in ("model.onnx", "model_int8.onnx"):
        assert onnx_spec(out / name) == spec, name


def test_tiling_matches_whole_image_inference_at_model_size(compressed):
    from edgeseg.deploy.segmenter import Segmenter, _starts

    assert _starts(32, 32) == [0] and _starts(80, 32) == [0, 24, 48] and _starts(70, 32) == [0, 24, 38]
    seg = Segmenter(compressed[1] / "model_float32.tflite")
    image = (np.random.default_rng(0).random((32, 32)) * 255).astype(np.uint8)
    whole, tiled = seg.predict(image), seg.predict(image, tile=True)
    np.testing.assert_allclose(whole.probabilities, tiled.probabilities, atol=1e-6)
    big = seg.predict(np.zeros((100, 77), np.uint8), tile=True)
    assert big.probabilities.shape == (100, 77, 1) and big.mask.shape == (100, 77)


def test_predict_writes_masks_and_overlays_at_each_images_size(compressed, images, tmp_path):
    out = tmp_path / "masks"
    result = run_cli("predict", str(compressed[1] / "model_int8.tflite"), str(images), "--out", str(out),
                     "--overlay", "--tile")
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["img0_mask.png", "img0_overlay.png", "img1_mask.png",
                                                     "img1_overlay.png"]
    for name, (h, w) in (("img0", (48, 80)), ("img1", (96, 64))):
        mask = np.asarray(Image.open(out / f"{name}_mask.png"))
        assert mask.shape == (h, w) and set(np.unique(mask)) <= {0, 255} and mask.max() == 255
        assert Image.open(out / f"{name}_overlay.png").size == (3 * w, h)
    again = run_cli("predict", str(compressed[1] / "model_int8.tflite"), str(images), "--out", str(out))
    assert again.returncode == 2 and "--force" in last_error_line(again)


@pytest.mark.parametrize("inputs, message", [
    (["/no/such.png"], "input not found"),
    (["clip.mp4"], "cannot open clip.mp4"),
    (["notes.txt"], "not an image"),
])
def test_predict_bad_inputs_write_nothing(compressed, tmp_path, inputs, message):
    (tmp_path / "clip.mp4").write_bytes(b"\0" * 16)
    (tmp_path / "notes.txt").write_text("hello")
    out = tmp_path / "out"
    result = run_cli("predict", str(compressed[1] / "model_int8.tflite"), *inputs, "--out", str(out), cwd=tmp_path)
    assert result.returncode == 2 and message in last_error_line(result)
    assert not out.exists()


def test_bundle_manifest_and_predict_from_it(compressed, images, tmp_path):
    out_dir = compressed[1]
    bundle = tmp_path / "int8.zip"
    result = run_cli("bundle", str(out_dir), "--artifact", "model_int8.tflite", "--out", str(bundle))
    assert result.returncode == 0, result.stderr[-2000:]
    with zipfile.ZipFile(bundle) as archive:
        assert sorted(archive.namelist()) == ["README.txt", "manifest.json", "model_int8.tflite"]
        manifest = json.loads(archive.read("manifest.json"))
        model = archive.read("model_int8.tflite")
    import hashlib

    assert manifest["schema"] == "edgeseg.bundle/1"
    assert manifest["model"]["sha256"] == hashlib.sha256(model).hexdigest()
    assert manifest["input"]["dtype"] == "int8" and manifest["input"]["shape"] == [1, 32, 32, 1]
    assert manifest["input"]["quantization"]["scale"] > 0
    assert manifest["preprocessing"] == json.loads((out_dir / "report.json").read_text())["spec"]
    assert manifest["measured"]["dice"] > 0.5 and manifest["versions"]["ai-edge-litert"]
    masks = tmp_path / "masks"
    ran = run_cli("predict", str(bundle), str(images / "img0.png"), "--out", str(masks))
    assert ran.returncode == 0 and (masks / "img0_mask.png").is_file(), ran.stderr[-2000:]
    assert "sha256" in ran.stderr and "verified" in ran.stderr


def test_a_changed_bundle_is_refused(compressed, images, tmp_path):
    bundle = tmp_path / "b.zip"
    assert run_cli("bundle", str(compressed[1]), "--artifact", "model_int8.tflite", "--out", str(bundle)).returncode == 0
    with zipfile.ZipFile(bundle) as archive:
        entries = {n: archive.read(n) for n in archive.namelist()}
    model = bytearray(entries["model_int8.tflite"])
    model[-100] ^= 0xFF  # one flipped byte in the weights
    entries["model_int8.tflite"] = bytes(model)
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(tampered, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    out = tmp_path / "masks"
    result = run_cli("predict", str(tampered), str(images / "img0.png"), "--out", str(out))
    assert result.returncode == 2 and "does not match the manifest" in last_error_line(result)
    assert not out.exists()


def test_bundle_refuses_unknown_and_undeployable_artifacts(compressed, tmp_path):
    """The tiny model's artifacts are usually all deployable, so one is marked rejected in a copy
    of the output: the refusal is checked on every run, not only when compress rejected something."""
    import shutil

    out_dir, written = tmp_path / "compressed", tmp_path / "written"
    shutil.copytree(compressed[1], out_dir)
    written.mkdir()
    unknown = run_cli("bundle", str(out_dir), "--artifact", "nope.tflite", "--out", str(written / "x.zip"))
    assert unknown.returncode == 2 and "model_int8.tflite" in last_error_line(unknown)
    report = json.loads((out_dir / "report.json").read_text())
    row = next(a for a in report["artifacts"] if a["path"] == "model_float16.tflite")
    row.update(deployable=False, reason="Dice 0.1000 is below the floor")
    (out_dir / "report.json").write_text(json.dumps(report))
    refused = run_cli("bundle", str(out_dir), "--artifact", "model_float16.tflite", "--out", str(written / "y.zip"))
    assert refused.returncode == 2 and "--allow-undeployable" in last_error_line(refused), refused.stderr[-2000:]
    assert not any(written.iterdir())
    allowed = run_cli("bundle", str(out_dir), "--artifact", "model_float16.tflite", "--allow-undeployable",
                      "--out", str(written / "y.zip"))
    assert allowed.returncode == 0 and (written / "y.zip").is_file(), allowed.stderr[-2000:]


def test_predict_reads_a_video_frame_by_frame(compressed, tmp_path):
    cv2 = pytest.importorskip("cv2")
    from edgeseg.data.synthetic import synth_sample

    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (48, 40))
    for i in range(4):
        pixels, _ = synth_sample(40, 48, i, seed=9)
        writer.write(cv2.cvtColor(pixels[..., 0], cv2.COLOR_GRAY2BGR))
    writer.release()
    out = tmp_path / "masks"
    result = run_cli("predict", str(compressed[1] / "model_int8.tflite"), str(video), "--out", str(out),
                     "--max-frames", "3", "--overlay")
    assert result.returncode == 0, result.stderr[-2000:]
    frames = sorted(p.name for p in (out / "clip").iterdir())
    assert frames == [f"frame_00000{i}_{kind}.png" for i in (1, 2, 3) for kind in ("mask", "overlay")]
    assert np.asarray(Image.open(out / "clip" / "frame_000001_mask.png")).shape == (40, 48)


def test_video_without_opencv_says_how_to_get_it(compressed, tmp_path):
    (tmp_path / "clip.mp4").write_bytes(b"\0" * 16)
    code = (f"from edgeseg.cli import main; import sys; sys.exit(main(['predict', "
            f"{str(compressed[1] / 'model_int8.tflite')!r}, 'clip.mp4', '--out', 'out']))")
    result = run_python_without(("cv2",), code, cwd=tmp_path)
    assert result.returncode == 2 and "pip install 'edgeseg[video]'" in result.stderr
    assert not (tmp_path / "out").exists()
