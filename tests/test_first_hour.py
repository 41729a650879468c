"""Issue 15, a real user's first hour: a broken baseline, no --data, quiet and early failures,
the verdict, the notebook API, bench tables. Fast checks first; the slow ones convert a model."""
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, SMALL_DATA, last_error_line, run_python_without
from edgeseg.artifacts.bench_report import BenchReport
from edgeseg.artifacts.compress_report import CompressReport
from edgeseg.compress import guard as guard_module
from edgeseg.scoring.budget import Budget
from edgeseg.scoring.sanity import BaselineCheck, check_agreement, prediction_problems
from edgeseg.compress.verdict import recommend, verdict_lines
from edgeseg.scoring.verify import Verified


def _row(path, fmt, precision, deployable=True, size=1000, dice=0.9, reason="within budget", **extra):
    return {"path": path, "format": fmt, "precision": precision, "bytes": size, "gzip_bytes": size, "dice": dice,
            "deployable": deployable, "reason": reason, "mask_agreement": 0.99, "mean_abs_diff": 0.01,
            "flops": 100} | extra


def _report(rows, origin="given", **more) -> CompressReport:
    return CompressReport.from_dict({
        "schema": "edgeseg.compress/2", "model": "m.keras", "model_sha256": "ab", "data": "d", "spec": {},
        "config": {}, "artifacts": rows, "baseline": {"dice": 0.9}, "data_origin": origin, "data_summary": "S",
        "sanity": BaselineCheck(True).to_dict(), "skipped": [], **more})


def _recommend(report: CompressReport):
    return recommend(report.artifacts, report.baseline, report.task, report.data_origin)


# 1. sanity before verdicts

def test_an_int8_artifact_whose_dice_rose_fails_agreement(tmp_path, monkeypatch):
    # The float model scored 0.15; the int8 artifact 0.66 because its masks are different masks.
    ok, reason = check_agreement(mask_agreement=0.31, mean_abs_diff=0.22)
    assert not ok and "disagree" in reason
    scores = {"dice": 0.66, "mask_agreement": 0.31, "mean_abs_diff": 0.22, "max_abs_diff": 0.9}
    g = guard_module.guard([("ptq", lambda: b"x")], tmp_path / "a.tflite", lambda path: Verified("fake", scores, 0.0),
                           Budget(0.15, 0.01), lambda _: None)
    assert not g.deployable and "disagree" in g.reason
    assert check_agreement(0.995, 0.004)[0]


def test_a_constant_or_empty_prediction_is_a_problem_and_a_failed_baseline_ships_nothing():
    truth = np.zeros((2, 8, 8), np.int32)
    truth[:, 2:6, 2:6] = 1
    assert "same value" in prediction_problems(np.full((2, 8, 8, 1), 0.1, np.float32), truth, 0.5)[0]
    empty = np.random.default_rng(0).uniform(0, 0.4, (2, 8, 8, 1)).astype(np.float32)
    assert "almost no foreground" in prediction_problems(empty, truth, 0.5)[0]
    good = (truth[..., None] * 0.9 + 0.05).astype(np.float32)
    assert prediction_problems(good, truth, 0.5) == []
    failed = BaselineCheck(False, ["x"])
    ok, reason = Budget(0.9, 0.01, None if failed.ok else failed.message()).judge({"dice": 0.95})
    assert not ok and "baseline" in reason


def test_without_real_masks_agreement_alone_decides():
    budget = Budget(0.5, 0.01, judged_by_dice=False)
    ok, reason = budget.judge({"dice": 0.1, "mask_agreement": 0.99, "mean_abs_diff": 0.01})  # Dice on ellipses
    assert ok and "not measured against real masks" in reason
    ok, reason = budget.judge({"dice": 0.9, "mask_agreement": 0.5, "mean_abs_diff": 0.01})
    assert not ok and "disagree" in reason


# 5. the verdict

def test_verdict_recommends_per_format_rejects_with_reasons_and_names_next_commands():
    rows = [_row("model_float32.tflite", "tflite", "float32", size=4000),
            _row("model_int8.tflite", "tflite", "int8", size=1100),
            _row("model_pruned_int8.tflite", "tflite", "int8", deployable=False, size=1000,
                 reason="Dice 0.5 is below the floor"),
            _row("model.onnx", "onnx", "float32", size=4000), _row("model_int8.onnx", "onnx", "int8", size=4100)]
    report = _report(rows)
    picked = _recommend(report)
    assert picked["tflite"].path == "model_int8.tflite" and picked["tflite"].size_ratio == 1100 / 4000
    assert picked["onnx"].path == "model_int8.onnx"  # int8 is the fast one, even when not smaller
    report = dataclasses.replace(report, recommended=picked)
    lines = verdict_lines(report, "OUT")
    assert lines[0] == "verdict:"
    assert any(l.startswith("  ship tflite: model_int8.tflite  Dice 0.9000 (float 0.9000), 0.00 MB, 0.28x") for l in lines)
    assert "  rejected model_pruned_int8.tflite: Dice 0.5 is below the floor" in lines
    assert lines[-2:] == ["  edgeseg bench OUT      # latency, size and Dice on every runtime here",
                          "  edgeseg bundle OUT     # a deploy zip of model_int8.tflite"]
    nothing = _report([_row("m.tflite", "tflite", "int8", deployable=False)])
    assert "  nothing to ship: no artifact is deployable" in verdict_lines(nothing, "OUT")


# 4 and 8. quiet, early failures, papercuts

def _python(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env=env or dict(os.environ))


@pytest.mark.parametrize("argv, message", [
    (["compress", "/no/such/model.keras"], "model file not found"),
    (["compress", "MODEL", "--data", "/no/such/dir"], "data directory not found"),
    (["compress", "MODEL", "--formats", "tflite,coreml"], "--formats"),
    (["eval", "/no/such/model.keras"], "model file not found"),
    (["bench", "/no/such/dir"], "not found"),
    (["train", "--data", "/no/such/dir", "--out", "MODEL"], "data directory not found"),
    (["train", "--out", "MODEL"], "--force"),
])
def test_wrong_paths_and_flags_fail_before_tensorflow_is_imported(tmp_path, argv, message):
    model = tmp_path / "m.keras"
    model.write_bytes(b"not really a model")
    argv = [str(model) if a == "MODEL" else a for a in argv]
    code = (f"import sys; from edgeseg.cli import main; rc = main({argv!r}); "
            "print('rc', rc, 'tensorflow' in sys.modules)")
    result = _python(code)
    assert result.stdout.strip() == "rc 2 False", result.stderr[-2000:]
    assert message in last_error_line(result)


def test_cuda_is_hidden_only_without_gpu_device_nodes(monkeypatch):
    from edgeseg import quiet

    for present, expected in ((False, ""), (True, None)):
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
        monkeypatch.delenv(quiet.VERBOSE_ENV, raising=False)
        monkeypatch.setattr(quiet, "has_gpu_device_nodes", lambda present=present: present)
        quiet.configure()
        assert os.environ.get("CUDA_VISIBLE_DEVICES") == expected
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    quiet.configure(verbose=True)  # --verbose changes nothing TensorFlow reads
    assert "CUDA_VISIBLE_DEVICES" not in os.environ


def test_version_and_every_command_help_opens_with_what_it_does_and_shows_defaults(capsys):
    import argparse

    from edgeseg import __version__
    from edgeseg.cli import build_parser

    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["--version"])
    assert capsys.readouterr().out.strip() == f"edgeseg {__version__}"
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        text = sub.format_help()
        assert sub.description and text.split("\n\n")[1].strip().startswith(sub.description[:30]), name
    def flat(name):
        return " ".join(commands.choices[name].format_help().split())

    assert "(default: 0.5)" in flat("compress") and "(default: 14)" in flat("compress")
    assert "(default: 14)" in flat("edgetpu-check")  # one Edge TPU runtime version everywhere


def test_a_missing_dependency_is_one_line_on_how_to_set_up(tmp_path):
    code = (f"import sys; from edgeseg.cli import main; "
            f"sys.exit(main(['train', '--preset', 'tiny', '--out', {str(tmp_path / 'out.keras')!r}]))")
    result = run_python_without(("tensorflow", "tf_keras"), code)
    assert result.returncode == 2
    line = last_error_line(result)
    assert "tensorflow" in line and "pip install -e ." in line
    assert list(tmp_path.iterdir()) == []


# 7. bench tables

def _bench_report():
    base = {"format": "tflite", "threads": 2, "reason": "", "bytes": 4_000_000, "gzip_bytes": 1, "machine": "m",
            "cv": 0.01, "noisy": False, "fps": 10.0, "model_rss_mb": 1.0, "p90_ms": 12.0, "status": "ok"}
    rows = [base | {"artifact": "model_float32.tflite", "precision": "float32", "runtime": "litert-cpu",
                    "p50_ms": 10.0, "dice": 0.95, "deployable": True},
            base | {"artifact": "model_int8.tflite", "precision": "int8", "runtime": "litert-cpu", "p50_ms": 2.5,
                    "dice": 0.949, "bytes": 1_000_000, "deployable": True},
            base | {"artifact": "model_bad.tflite", "precision": "int8", "runtime": "litert-cpu", "p50_ms": 2.0,
                    "dice": 0.10, "bytes": 1_000_000, "deployable": False},
            base | {"artifact": "model.onnx", "format": "onnx", "precision": "float32", "runtime": "ort-cuda",
                    "status": "unavailable", "reason": "no CUDA", "p50_ms": None, "dice": None}]
    from edgeseg.bench.run import with_ratios

    return BenchReport.from_dict({"schema": "edgeseg.bench/1", "machine": {"label": "m"}, "rows": with_ratios(rows),
                                  "dice_floor": 0.94})


def test_bench_table_ratios_deployable_mark_and_unavailable_footnote():
    from edgeseg.bench.report import render_terminal

    report = _bench_report()
    text = render_terminal(report)
    int8 = next(line for line in text.splitlines() if line.startswith("model_int8.tflite"))
    assert "4.00x" in int8 and "0.25x" in int8 and " yes " in int8
    assert " NO " in next(line for line in text.splitlines() if line.startswith("model_bad"))
    assert " ref " in next(line for line in text.splitlines() if line.startswith("model_float32"))
    assert not any(line.startswith("model.onnx") for line in text.splitlines())
    assert "ort-cuda: unavailable: no CUDA" in text
    shown = render_terminal(report, show_unavailable=True)
    assert any(line.startswith("model.onnx") for line in shown.splitlines())


def test_plot_keeps_an_outlier_off_the_dice_axis_and_draws_the_budget():
    from edgeseg.bench.report import dice_axis, render_plot

    bottom, top = dice_axis([0.95, 0.949, 0.10], 0.94)
    assert 0.9 < bottom < 0.94 and top > 0.95
    pytest.importorskip("matplotlib")
    assert render_plot(_bench_report())[:4] == b"\x89PNG"


# The slow ones: real conversions through the CLI and the API.

def _rescaling_model(tiny_model_path: Path, out: Path) -> Path:
    """A model that normalizes its own input (Rescaling(1/255)) and so wants raw 0-255 pixels."""
    from edgeseg.backend import keras
    from edgeseg.models.io import load_model

    k = keras()
    inner, _ = load_model(tiny_model_path)
    x = k.Input(inner.input_shape[1:])
    k.Model(x, inner(k.layers.Rescaling(1 / 255.0)(x))).save(out)
    return out


def _quiet_env() -> dict:
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # edgeseg itself must keep TensorFlow quiet
    return env


@pytest.mark.slow
def test_rescaling_model_fed_0_1_data_is_not_deployable_and_the_message_names_none(tiny_model_path, tmp_path):
    model = _rescaling_model(tiny_model_path, tmp_path / "rescaling.keras")
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "edgeseg", "compress", str(model), "--data", "synthetic",
                             "--out", str(out), "--formats", "onnx", *SMALL_DATA], capture_output=True, text=True,
                            cwd=ROOT, env=_quiet_env(), timeout=600)
    assert result.returncode == 3, result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert not report["sanity"]["ok"] and report["sanity"]["suggestion"] == "none"
    assert report["sanity"]["alternatives"]["none"] > 0.5 > report["baseline"]["dice"]
    assert "Rescaling" in report["sanity"]["input_layer"]
    assert not any(a["deployable"] for a in report["artifacts"]) and report["recommended"] == {}
    verdict = result.stdout[result.stdout.index("verdict:"):]
    assert "--normalize none" in verdict and "likely a preprocessing mismatch" in verdict
    assert result.stderr == ""  # no TensorFlow start-up lines, no cuInit error
    evaluated = subprocess.run([sys.executable, "-m", "edgeseg", "eval", str(model), "--data", "synthetic",
                                "--synthetic-val", "8"], capture_output=True, text=True, cwd=ROOT, env=_quiet_env(),
                               timeout=600)
    assert evaluated.returncode == 0 and "--normalize none" in evaluated.stdout, evaluated.stderr[-2000:]


@pytest.mark.slow
def test_models_edgeseg_trains_record_their_data(tiny_model_path):
    from edgeseg.compress.data_source import RECORDED, choose_data
    from edgeseg.models.io import stored_training_data

    record = stored_training_data(tiny_model_path)
    assert record["source"] == "synthetic" and record["synthetic_train"] == 256 and record["synthetic_val"] == 32
    choice = choose_data(tiny_model_path, None)
    assert choice.origin == RECORDED and choice.data.synthetic_val == 32 and choice.judged_by_dice


@pytest.mark.slow
def test_foreign_model_without_data_is_converted_and_judged_by_agreement_only(tiny_model_path, tmp_path):
    from edgeseg.models.io import load_model

    model = tmp_path / "foreign.keras"
    load_model(tiny_model_path)[0].save(model)  # no edgeseg metadata: a model edgeseg did not train
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "edgeseg", "compress", str(model), "--out", str(out),
                             "--prune", "magnitude", "--qat", "--calibration-samples", "16"],
                            capture_output=True,
                            text=True, cwd=ROOT, env=_quiet_env(), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "E0000" not in result.stderr and "cuInit" not in result.stderr and "I0000" not in result.stderr
    verdict = result.stdout[result.stdout.index("verdict:"):]
    assert "NOTHING WAS MEASURED AGAINST REAL MASKS" in verdict  # in the summary, not only at the start
    assert "skipped pruning" in verdict and "skipped quantization-aware training" in verdict
    assert "ship onnx:" in verdict and "mask agreement with the float model" in verdict
    report = json.loads((out / "report.json").read_text())
    assert report["data_origin"] == "none" and report["pruning"] is None and not (out / "pruned.keras").exists()
    for a in report["artifacts"]:
        assert a["deployable"] and "not measured against real masks" in a["reason"], a
        assert all(t["method"] != "qat" for t in a.get("attempts", []))




@pytest.mark.slow
def test_notebook_order_tensorflow_first_keeps_the_users_keras(tiny_model_path, tmp_path):
    model = tmp_path / "seg.keras"
    model.write_bytes(tiny_model_path.read_bytes())
    code = (
        "import tensorflow as tf\n"
        "import edgeseg\n"
        f"report = edgeseg.compress({str(model)!r}, data='synthetic', formats=('onnx',), prune='none', "
        "calibration_samples=16)\n"
        "assert tf.keras.version().startswith('3.'), tf.keras.version()\n"
        "import keras\n"
        "assert tf.keras.Model is keras.Model\n"
        "assert isinstance(report, edgeseg.CompressResult) and report.deployable\n"
        "print('OUT', report.out, report.path('onnx'))\n")
    env = _quiet_env()
    env.pop("TF_USE_LEGACY_KERAS", None)  # a notebook's environment (this process set it for its own models)
    result = _python(code, env)
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "seg_edgeseg"  # the CLI's default output folder
    report = json.loads((out / "report.json").read_text())
    shipped = {a["path"]: a["p50_ms"] for a in report["artifacts"] if a["deployable"]}  # timed together
    fastest = min(shipped, key=shipped.get)  # which one is the machine's to say on a 32x32 model: the rule is tested
    assert report["recommended"]["onnx"]["path"] == fastest and f"OUT {out} {out / fastest}" in result.stdout


def test_recorded_directory_data_is_used_and_a_vanished_one_is_said(tmp_path):
    import zipfile

    from conftest import fake_keras_archive, make_directory_dataset
    from edgeseg.compress.data_source import NONE, RECORDED, choose_data
    from edgeseg.data.record import data_record
    from edgeseg.config import DataConfig

    data = make_directory_dataset(tmp_path / "data", 4)
    model = fake_keras_archive(tmp_path / "m.keras", version="2.21.0")
    with zipfile.ZipFile(model, "a") as archive:
        archive.writestr("edgeseg.json", json.dumps({"height": 40, "width": 40,
                                                     "trained_on": data_record(DataConfig(str(data), seed=7))}))
    choice = choose_data(model, None)
    assert choice.origin == RECORDED and choice.data.source == str(data.resolve()) and choice.data.seed == 7
    assert choose_data(model, DataConfig("synthetic")).origin == "given"
    data.rename(tmp_path / "moved")
    gone = choose_data(model, None)
    assert gone.origin == NONE and "is gone" in gone.summary() and not gone.judged_by_dice


def test_sizes_within_one_percent_tie_and_gzip_decides_in_every_format():
    """A few bytes of metadata must not make the verdict pick different sources per format."""
    rows = [_row("model_int8.tflite", "tflite", "int8", size=144480, gzip_bytes=125244),
            _row("model_pruned_int8.tflite", "tflite", "int8", size=144480, gzip_bytes=89156),
            _row("model_int8.onnx", "onnx", "int8", size=170326, gzip_bytes=127317),
            _row("model_pruned_int8.onnx", "onnx", "int8", size=170368, gzip_bytes=91414)]
    picked = {fmt: pick.path for fmt, pick in _recommend(_report(rows)).items()}
    assert picked == {"tflite": "model_pruned_int8.tflite", "onnx": "model_pruned_int8.onnx"}


def test_the_verdict_says_when_auto_found_nothing_or_pruning_was_skipped():
    report = _report([_row("model_int8.tflite", "tflite", "int8")], search={"winner": None, "candidates": [{}, {}]},
                     finetune_skipped="only 4 training images")
    text = "\n".join(verdict_lines(report, "OUT"))
    assert "none of the 2 channel-pruned candidates met the budget" in text
    assert "pruning skipped: only 4 training images" in text
