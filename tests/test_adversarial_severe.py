"""The five severe findings of issue 14, each with a test that fails on the code before the fix
(checked against commit e470305)."""
from __future__ import annotations

import json
import threading

import pytest

from adversarial_helpers import bomb_png, bundle_with_model_name, crafted_bundle, image, manifest, tree
from edgeseg.cli import main


def _error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    return lines[0]


# 1. A bundle writes anywhere -------------------------------------------------------------

@pytest.mark.parametrize("relative", [False, True])
def test_bundle_model_name_cannot_escape_the_private_folder(tmp_path, capsys, relative):
    victim = tmp_path / "victim.tflite"
    victim.write_bytes(b"precious")
    name = "../" * 12 + str(victim).lstrip("/") if relative else str(victim)
    bundle = bundle_with_model_name(tmp_path / "evil.zip", name, b"PLANTED")
    img = image(tmp_path / "in.png")
    before = tree(tmp_path)
    code = main(["predict", str(bundle), str(img), "--out", str(tmp_path / "masks")])
    assert code == 2
    assert "not a safe edgeseg bundle" in _error(capsys)
    assert victim.read_bytes() == b"precious"
    assert tree(tmp_path) == before  # nothing planted, nothing written


def test_bundle_entries_are_read_with_a_cap(tmp_path, capsys, monkeypatch):
    import edgeseg.deploy.bundle as bundle_module

    data = bytes(8 * 2**20)  # 8 MB of zeros: deflates to a few KB, as a zip bomb does
    bundle = crafted_bundle(tmp_path / "big.zip", [("manifest.json", json.dumps(manifest("m.tflite", data)).encode()),
                                                   ("m.tflite", data)])
    assert bundle.stat().st_size < 100_000
    monkeypatch.setattr(bundle_module, "MAX_MODEL_BYTES", 2**20)
    reads = []
    original = bundle_module.zipfile.ZipExtFile.read
    monkeypatch.setattr(bundle_module.zipfile.ZipExtFile, "read",
                        lambda self, n=-1: reads.append(n) or original(self, n))
    code = main(["predict", str(bundle), str(image(tmp_path / "in.png")), "--out", str(tmp_path / "o")])
    assert code == 2 and "over the limit" in _error(capsys)
    assert reads and all(0 <= n <= 2**20 + 1 for n in reads)  # never read() whole


# 2. --force deletes the user's inputs ----------------------------------------------------

@pytest.mark.slow
def test_predict_force_into_the_input_folder_is_refused(compressed, tmp_path, capsys):
    _, out_dir, _ = compressed
    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        image(images / f"{i}.png")
    before = tree(tmp_path)
    for out in (images, images / "masks", tmp_path):
        code = main(["predict", str(out_dir / "model_int8.tflite"), str(images), "--out", str(out), "--force"])
        assert code == 2
        assert "refused even with --force" in _error(capsys)
        assert tree(tmp_path) == before


def test_output_dir_overlapping_an_input_is_refused_with_force(tmp_path):
    from edgeseg.errors import UsageError
    from edgeseg.outputs import atomic_output_dir

    data = tmp_path / "data"
    data.mkdir()
    (data / "keep.png").write_bytes(b"x")
    for out, given in ((data, data), (tmp_path, data), (data / "sub", data), (data, data / "keep.png")):
        with pytest.raises(UsageError, match="refused even with --force"):
            with atomic_output_dir(out, True, inputs=[given]):
                pass
    assert (data / "keep.png").read_bytes() == b"x"


# 3. Two runs on one --out -----------------------------------------------------------------

def test_two_concurrent_runs_on_one_out_cannot_both_succeed(tmp_path, capsys, monkeypatch):
    import edgeseg.data.dataset as dataset

    out = tmp_path / "synth"
    inside, release = threading.Event(), threading.Event()
    real_write = dataset.write_dataset

    def slow_write(data, directory):
        if threading.current_thread() is not threading.main_thread():
            inside.set()
            release.wait(30)
        return real_write(data, directory)

    monkeypatch.setattr(dataset, "write_dataset", slow_write)
    codes = {}
    first = threading.Thread(target=lambda: codes.setdefault("first", main(
        ["data", "synth", "--out", str(out), "--count", "3", "--size", "16"])))
    first.start()
    assert inside.wait(30)
    try:
        second = main(["data", "synth", "--out", str(out), "--count", "2", "--size", "16", "--seed", "1"])
    finally:
        release.set()
        first.join(30)
    assert second == 2
    assert "another edgeseg run" in _error(capsys)
    assert codes["first"] == 0
    assert len(list((out / "images").iterdir())) == 3  # the first run's output, whole
    assert [p.name for p in tmp_path.iterdir()] == ["synth"]  # no lock or temporary left


def test_no_replace_publish_refuses_a_file_that_appeared(tmp_path):
    from edgeseg.errors import OutputExistsError
    from edgeseg.outputs import write_file_atomic
    import edgeseg.outputs as outputs

    target = tmp_path / "bench.json"
    real = outputs.temp_sibling

    def racing(path, directory):  # another run writes the same output while this one works
        made = real(path, directory)
        target.write_text("the other run's result")
        return made

    outputs.temp_sibling = racing
    try:
        with pytest.raises(OutputExistsError):
            write_file_atomic(target, "mine", force=False)
    finally:
        outputs.temp_sibling = real
    assert target.read_text() == "the other run's result"
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]


# 4. A Lambda in a Keras 2 .h5 -------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("command", ["eval", "compress"])
def test_lambda_in_h5_is_refused_before_it_runs(tmp_path, capsys, command):
    from edgeseg.backend import keras

    marker = tmp_path / "lambda_ran"
    k = keras()
    inputs = k.Input((32, 32, 1))
    hidden = k.layers.Lambda(eval(f"lambda x: (open({str(marker)!r}, 'w').write('ran'), x)[1]"))(inputs)
    model = k.Model(inputs, k.layers.Conv2D(1, 1, activation="sigmoid")(hidden))
    path = tmp_path / "lambda.h5"
    model.save(path)
    marker.unlink(missing_ok=True)
    before = tree(tmp_path)
    code = main([command, str(path), "--synthetic-train", "4", "--synthetic-val", "2"])
    assert code == 2
    assert "Lambda" in _error(capsys) and not marker.exists()
    assert tree(tmp_path) == before


# 5. No bound on work ------------------------------------------------------------------------

def test_bench_min_time_inf_is_refused(tmp_path, capsys):
    from edgeseg.config import BenchConfig
    from edgeseg.errors import UsageError

    with pytest.raises(UsageError, match="finite"):
        BenchConfig(min_time=float("inf"))
    assert main(["bench", str(tmp_path / "m.tflite"), "--min-time", "inf"]) == 2
    assert "--min-time" in _error(capsys)


def test_data_synth_size_is_bounded(tmp_path, capsys):
    assert main(["data", "synth", "--out", str(tmp_path / "d"), "--size", "30000", "--count", "1"]) == 2
    assert "over the limit of 4096" in _error(capsys)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("width, height", [(100_000, 100_000), (9000, 9000)])
def test_decompression_bomb_is_one_line_naming_the_limit(tmp_path, capsys, width, height):
    from edgeseg.data.dataset import read_pixels
    from edgeseg.errors import DataError

    bomb = bomb_png(tmp_path / "bomb.png", width, height)
    with pytest.raises(DataError, match="pixels"):
        read_pixels(bomb)
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    (data / "masks").mkdir()
    for folder in ("images", "masks"):
        image(data / folder / "a.png")
        bomb_png(data / folder / "b.png", width, height)
    code = main(["train", "--data", str(data), "--preset", "tiny", "--epochs", "1", "--out", str(tmp_path / "m.keras")])
    assert code == 2 and "67,108,864" in _error(capsys)
    assert not (tmp_path / "m.keras").exists()
