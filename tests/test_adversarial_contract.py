"""The rest of issue 14's contract: signals, leftovers, permissions, and no silent wrong results."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from adversarial_helpers import image, tree
from conftest import ROOT, write_pair
from edgeseg.cli import main


def test_sigterm_is_handled_like_ctrl_c_and_leaves_nothing(tmp_path):
    out = tmp_path / "synth"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-m", "edgeseg", "data", "synth", "--out", str(out),
                                "--count", "100000", "--size", "64"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not any(p.name.startswith(".synth.edgeseg-tmp-") for p in tmp_path.iterdir()):
        time.sleep(0.05)
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert "Traceback" not in err and "terminated" in err
    assert list(tmp_path.iterdir()) == []  # no output, no temporary, no lock


def test_a_killed_runs_temporaries_are_swept_by_the_next_run(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".synth.edgeseg-tmp-{dead.pid}-0123abcd"
    stale.mkdir()
    (stale / "half.png").write_bytes(b"x")
    stale_lock = tmp_path / ".synth.edgeseg-lock"
    stale_lock.write_text(f"{os.uname().nodename} {dead.pid}\n")
    unrelated = tmp_path / ".synth.other-tool-tmp"
    unrelated.mkdir()
    assert main(["data", "synth", "--out", str(tmp_path / "synth"), "--count", "2", "--size", "16"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [".synth.other-tool-tmp", "synth"]


def test_a_live_runs_lock_is_respected(tmp_path, capsys):
    (tmp_path / ".synth.edgeseg-lock").write_text(f"{os.uname().nodename} {os.getppid()}\n")
    assert main(["data", "synth", "--out", str(tmp_path / "synth"), "--count", "2", "--size", "16"]) == 2
    assert "another edgeseg run" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == [".synth.edgeseg-lock"]


def test_outputs_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        assert main(["data", "synth", "--out", str(tmp_path / "d"), "--count", "1", "--size", "16"]) == 0
        from edgeseg.outputs import write_file_atomic

        write_file_atomic(tmp_path / "f.json", "{}", force=False)
    finally:
        os.umask(old)
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "f.json").stat().st_mode & 0o777 == 0o644


def test_an_interrupted_stage_leaves_nothing_at_out(tmp_path):
    from edgeseg.staging import staged_model

    out = tmp_path / "m.keras"
    with pytest.raises(KeyboardInterrupt):
        with staged_model(out, force=False) as staging:
            staging.write_bytes(b"best epoch so far")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    with staged_model(out, force=False) as staging:
        staging.write_bytes(b"finished")
    assert out.read_bytes() == b"finished" and [p.name for p in tmp_path.iterdir()] == ["m.keras"]


def test_normalize_minus_one_one_can_be_typed_as_the_readme_shows():
    from edgeseg.cli import build_parser
    from edgeseg.cli.support import join_dash_values

    for argv in (["--normalize", "-1-1"], ["--normalize=-1-1"]):
        args = build_parser().parse_args(join_dash_values(["eval", "m.keras", *argv]))
        assert args.normalize == "-1-1"


def test_rgba_images_are_converted_not_cut_to_one_channel():
    from edgeseg.data.preprocess import match_channels

    rgba = np.zeros((2, 2, 4), np.float32)
    rgba[..., 1] = 1.0  # pure green, opaque
    rgba[..., 3] = 1.0
    assert match_channels(rgba, 3)[0, 0].tolist() == [0.0, 1.0, 0.0]
    assert match_channels(rgba, 1)[0, 0, 0] == pytest.approx(0.587)


def test_jpeg_masks_get_a_warning(tmp_path, capsys):
    from edgeseg.config import DataConfig, PreprocessSpec
    from edgeseg.data.dataset import load_splits

    for i in range(3):
        pixels = np.full((16, 16), 40 * i, np.uint8)
        write_pair(tmp_path, f"p{i}", pixels, (pixels > 50).astype(np.uint8) * 255, mask_suffix=".jpg")
    load_splits(DataConfig(source=str(tmp_path)), PreprocessSpec(16, 16))
    err = capsys.readouterr().err
    assert "warning" in err and "JPEG" in err and "PNG" in err


def test_more_than_255_classes_are_refused():
    from edgeseg.config import PreprocessSpec
    from edgeseg.errors import UsageError

    with pytest.raises(UsageError, match="255"):
        PreprocessSpec(32, 32, classes=300)


@pytest.mark.parametrize("figure", ["dice", "p50_ms", "bytes"])
def test_a_nan_in_the_baseline_fails_the_gate(figure):
    from edgeseg.bench.gate import Tolerances, compare

    def rows(value=None):
        base = [{"artifact": "f.tflite", "runtime": "litert-cpu", "status": "ok", "precision": "float32",
                 "p50_ms": 10.0, "dice": 0.9, "bytes": 100},
                {"artifact": "q.tflite", "runtime": "litert-cpu", "status": "ok", "precision": "int8",
                 "p50_ms": 5.0, "dice": 0.9, "bytes": 50}]
        if value is not None:
            base[1][figure] = value
        return {"rows": base, "config": {"runtimes": ["auto"]}}

    regressions, _ = compare(rows(), rows(float("nan")), Tolerances(0.1, 0.005, 0.02))
    assert any("not a finite number" in r for r in regressions)
    assert compare(rows(), rows(), Tolerances(0.1, 0.005, 0.02))[0] == []


def test_custom_layer_messages_name_the_class_and_the_flag():
    from edgeseg.models.keras3 import UNKNOWN_CLASS as _UNKNOWN

    for text in ("Unknown layer: 'MyBlock'. Please ensure you are using a `keras.utils.custom_object_scope`",
                 "Could not locate class 'MyBlock'. Make sure custom classes are decorated"):
        found = _UNKNOWN.search(text)
        assert (found.group(1) or found.group(2)) == "MyBlock"


def test_bundle_refuses_an_artifact_that_is_not_the_verified_one(tmp_path, capsys):
    """Same size, other bytes: only the sha256 recorded by compress tells them apart."""
    import hashlib

    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "m.tflite").write_bytes(b"B" * 10)
    row = {"path": "m.tflite", "format": "tflite", "precision": "int8", "deployable": True, "bytes": 10,
           "reason": "", "dice": 0.9, "iou": 0.8, "sha256": hashlib.sha256(b"A" * 10).hexdigest()}
    (folder / "report.json").write_text(json.dumps({"schema": "edgeseg.compress/1", "spec": {}, "artifacts": [row],
                                                    "baseline": {"dice": 0.9}, "model": "m.keras",
                                                    "model_sha256": "0" * 64, "data": "synthetic", "config": {}}))
    before = tree(tmp_path)
    assert main(["bundle", str(folder), "--artifact", "m.tflite", "--out", str(tmp_path / "b.zip")]) == 2
    assert "not the file compress verified" in capsys.readouterr().err
    assert tree(tmp_path) == before


@pytest.mark.slow
def test_rgba_input_through_predict(compressed, tmp_path):
    _, out_dir, _ = compressed
    rgba = image(tmp_path / "rgba.png", size=40, mode="RGBA")
    assert main(["predict", str(out_dir / "model_int8.tflite"), str(rgba), "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "rgba_mask.png").is_file()


CUSTOM_LAYER = """
import tf_keras


class Doubling(tf_keras.layers.Layer):
    def call(self, x):
        return x * 2.0
"""


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_custom_objects_are_honoured_for_keras2_files(tmp_path, capsys, suffix):
    import runpy

    from edgeseg.backend import keras

    layers = tmp_path / "my_layers.py"
    layers.write_text(CUSTOM_LAYER)
    k = keras()
    inputs = k.Input((32, 32, 1))
    hidden = runpy.run_path(str(layers))["Doubling"](name="double")(inputs)
    path = tmp_path / f"custom{suffix}"
    k.Model(inputs, k.layers.Conv2D(1, 1, activation="sigmoid")(hidden)).save(path)
    small = ["--synthetic-train", "4", "--synthetic-val", "2"]
    assert main(["eval", str(path), *small]) == 2
    err = capsys.readouterr().err
    assert "Doubling" in err and "--custom-objects" in err and "Traceback" not in err
    assert main(["eval", str(path), "--custom-objects", str(layers), *small]) == 0


def test_an_output_that_cannot_be_claimed_is_one_line(tmp_path, capsys, monkeypatch):
    """A read-only file system (root ignores permission bits, so it is simulated)."""
    import errno

    import edgeseg.safety as safety

    real_open = os.open

    def read_only(path, flags, mode=0o777, **kw):
        if str(path).endswith(safety.LOCK_SUFFIX):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, mode, **kw)

    monkeypatch.setattr(safety.os, "open", read_only)
    assert main(["data", "synth", "--out", str(tmp_path / "d" / "synth"), "--count", "1", "--size", "16"]) == 2
    err = capsys.readouterr().err
    assert "Read-only file system" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # the parent it created is removed again
