"""Edge TPU readiness: the op check, the exact rewrite of nearest upsampling, and the
compiler step (with a stand-in edgetpu_compiler, since none is installed here)."""
import os
import stat
import sys

import numpy as np
import pytest

from conftest import run_cli

pytestmark = pytest.mark.slow  # every test here trains, converts or compresses


@pytest.fixture(scope="module")
def raw_int8(tiny_model_path, tmp_path_factory):
    """The tiny U-Net as the TFLite converter writes it, before edgeseg's finalize step."""
    from edgeseg.config import DataConfig
    from edgeseg.data.dataset import load_splits
    from edgeseg.quantize.tflite_int8 import calibrate, quantize_calibrated
    from edgeseg.models.io import load_model

    model, spec = load_model(tiny_model_path)
    train, _ = load_splits(DataConfig(synthetic_train=8, synthetic_val=1), spec)
    path = tmp_path_factory.mktemp("raw") / "raw_int8.tflite"
    path.write_bytes(quantize_calibrated(calibrate(model, train.batch(range(8))[0])))
    return path


def test_nearest_upsampling_rewrite_is_exact_and_makes_the_model_edgetpu_ready(raw_int8, tmp_path):
    from edgeseg.artifacts.edgetpu import check
    from edgeseg.runtimes.litert import LiteRTSession
    from edgeseg.artifacts.tflite import exact_nearest_upsampling

    before = check(raw_int8)
    assert not before.ready
    assert {v.reason for v in before.ops if not v.on_tpu} == {
        "op version 3 (half_pixel_centers) is not supported by edgetpu_compiler"}
    data, count = exact_nearest_upsampling(raw_int8.read_bytes())
    assert count == 2  # the tiny U-Net's two decoder upsamplings
    fixed = tmp_path / "fixed.tflite"
    fixed.write_bytes(data)
    assert check(fixed).ready
    x = np.random.default_rng(1).random((4, 32, 32, 1), dtype=np.float32)
    np.testing.assert_array_equal(LiteRTSession(raw_int8).run(x), LiteRTSession(fixed).run(x))


def test_edgetpu_check_cli(compressed):
    out = compressed[1]
    ready = run_cli("edgetpu-check", str(out / "model_int8.tflite"))
    assert ready.returncode == 0 and "ready: every op maps to the Edge TPU" in ready.stdout
    float_io = run_cli("edgetpu-check", str(out / "model_int8_float_io.tflite"))
    assert float_io.returncode == 3
    assert "input serving_default_input:0 is FLOAT32" in float_io.stdout
    assert "DEQUANTIZE" in float_io.stdout and "not an Edge TPU operation" in float_io.stdout
    floaty = run_cli("edgetpu-check", str(out / "model_float32.tflite"))
    assert floaty.returncode == 3 and "not quantized (FLOAT32 tensors)" in floaty.stdout


def test_compile_step_without_and_with_a_compiler(compressed, tmp_path, monkeypatch):
    import shutil

    from edgeseg.compress.edgetpu_step import edgetpu_step

    model = tmp_path / "model_int8.tflite"
    shutil.copy(compressed[1] / "model_int8.tflite", model)
    logs = []
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    facts = edgetpu_step(model, 13, verify=None, log=logs.append)
    assert facts.compiled is None and facts.summary["ready"] and "apt-get install edgetpu-compiler" in facts.unverified

    # A stand-in with edgetpu_compiler's command line: records its arguments, writes the output.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "edgetpu_compiler"
    fake.write_text(f"#!{sys.executable}\n"
                    "import pathlib, shutil, sys\n"
                    "here = pathlib.Path(sys.argv[0]).parent\n"
                    "(here / 'args').write_text(' '.join(sys.argv[1:]))\n"
                    "src, out = pathlib.Path(sys.argv[-1]), pathlib.Path(sys.argv[-2])\n"
                    "shutil.copy(src, out / (src.stem + '_edgetpu.tflite'))\n"
                    "print('Edge TPU Compiler (stand-in)')\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    facts = edgetpu_step(model, 13, verify=None, log=logs.append)
    assert (bin_dir / "args").read_text().split()[:4] == ["-s", "-m", "13", "-o"]
    assert facts.compiled == tmp_path / "model_int8_edgetpu.tflite" and facts.compiled.is_file()
    assert facts.verified is None and facts.unverified.startswith("no Edge TPU")
    # the step only reports facts: the Budget words why the compiled model cannot ship
    from edgeseg.scoring.budget import Budget

    deployable, reason = Budget(0.9, 0.01).judge({}, unverified=facts.unverified)
    assert not deployable and reason.startswith("compiled, not verified: no Edge TPU")
