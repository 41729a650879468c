"""The verdict follows measured speed (issue 23, item 4): the deployable artifacts of a format are
timed together and the fastest is recommended, whatever its precision; the figure is in the
verdict. Scripted latencies: no timing here."""
from __future__ import annotations

from edgeseg.artifacts.compress_records import Baseline
from edgeseg.artifacts.compress_report import ArtifactRecord
from edgeseg.compress.speed import time_deployable
from edgeseg.compress.verdict import recommend


def _row(path, precision, size, deployable=True, fmt=None):
    return ArtifactRecord(path, fmt or ("onnx" if path.endswith(".onnx") else "tflite"), precision, size,
                          deployable, "", dice=0.95, flops=100 if "channels" not in path else 25)


ROWS = [_row("model_float32.tflite", "float32", 8000), _row("model_int8.tflite", "int8", 2000),
        _row("model_channels_int8.tflite", "int8", 500), _row("model_float16.tflite", "float16", 4000, False),
        _row("model.onnx", "float32", 8000), _row("model_int8.onnx", "int8", 2000)]


def _timed(latency: dict[str, float], tmp_path):
    calls = []

    def measure(paths, load, image, **_):
        calls.append([p.name for p in paths])
        return [latency[p.name] for p in paths]

    return time_deployable(ROWS, tmp_path, image=None, log=lambda _: None, threads=2, measure=measure), calls


def test_each_format_is_timed_together_and_only_its_deployable_artifacts(tmp_path):
    rows, calls = _timed({"model_float32.tflite": 9.0, "model_int8.tflite": 3.0, "model_channels_int8.tflite": 2.9,
                          "model.onnx": 5.0, "model_int8.onnx": 7.0}, tmp_path)
    assert calls == [["model_float32.tflite", "model_int8.tflite", "model_channels_int8.tflite"],
                     ["model.onnx", "model_int8.onnx"]]
    timed = {r.path: r for r in rows}
    assert timed["model_float16.tflite"].p50_ms is None  # rejected: not a choice
    assert timed["model_int8.onnx"].p50_ms == 7.0 and timed["model_int8.onnx"].timed_on == "ort-cpu, 2 threads"


def test_the_verdict_recommends_the_fastest_measured_never_a_slower_one(tmp_path):
    rows, _ = _timed({"model_float32.tflite": 9.0, "model_int8.tflite": 3.0, "model_channels_int8.tflite": 3.5,
                      "model.onnx": 5.0, "model_int8.onnx": 7.0}, tmp_path)
    chosen = recommend(rows, Baseline(dice=0.95), "semantic", "given")
    assert chosen["tflite"].path == "model_int8.tflite"  # fewer FLOPs, but slower where it runs
    assert chosen["onnx"].path == "model.onnx" and chosen["onnx"].p50_ms == 5.0  # int8 ONNX ran slower here


def test_a_tie_goes_to_the_smaller_file_and_untimed_rows_keep_the_old_order(tmp_path):
    rows, _ = _timed({"model_float32.tflite": 3.0, "model_int8.tflite": 3.0, "model_channels_int8.tflite": 3.0,
                      "model.onnx": 5.0, "model_int8.onnx": 5.0}, tmp_path)
    chosen = recommend(rows, Baseline(dice=0.95), "semantic", "given")
    assert chosen["tflite"].path == "model_channels_int8.tflite" and chosen["onnx"].path == "model_int8.onnx"
    untimed = recommend(ROWS, Baseline(dice=0.95), "semantic", "given")
    assert untimed["tflite"].path == "model_channels_int8.tflite" and untimed["tflite"].p50_ms is None


def test_the_ship_line_shows_the_measured_figure(tmp_path):
    from edgeseg.compress.verdict import _ship_line

    rows, _ = _timed({"model_float32.tflite": 9.0, "model_int8.tflite": 3.0, "model_channels_int8.tflite": 2.5,
                      "model.onnx": 5.0, "model_int8.onnx": 7.0}, tmp_path)
    line = _ship_line("tflite", recommend(rows, Baseline(dice=0.95), "semantic", "given")["tflite"])
    assert "p50 2.50 ms (litert-cpu, 2 threads" in line
