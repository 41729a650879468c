"""The verdict follows measured speed (issue 23, item 4): the deployable artifacts of a format are
timed together and the fastest is recommended, whatever its precision or FLOPs, the smaller file
breaking a tie; the figure is in the verdict. The timer is scripted: no timing here."""
from __future__ import annotations

from pathlib import Path

from edgeseg.artifacts.compress_records import Baseline
from edgeseg.artifacts.compress_report import ArtifactRecord
from edgeseg.compress.speed import scripted_timer, time_deployable
from edgeseg.compress.verdict import _ship_line, recommend


def _row(path, precision, size, deployable=True):
    fmt = {".onnx": "onnx", ".tflite": "tflite"}.get(Path(path).suffix, "keras")
    return ArtifactRecord(path, fmt, precision, size, deployable, "",
                          dice=0.95, flops=100 if "channels" not in path else 25)


ROWS = [_row("model_float32.tflite", "float32", 8000), _row("model_int8.tflite", "int8", 2000),
        _row("model_channels_int8.tflite", "int8", 500), _row("model_float16.tflite", "float16", 4000, False),
        _row("model.onnx", "float32", 8000), _row("model_int8.onnx", "int8", 2000),
        _row("model.h5", "float32", 9000)]  # a format with one deployable artifact: no choice, not timed


def _timed(p50_ms: dict[str, float]):
    calls = []
    scripted = scripted_timer(p50_ms, "litert-cpu, 2 threads")

    def timer(fmt, paths):
        calls.append((fmt, [p.name for p in paths]))
        return scripted(fmt, paths)

    return time_deployable(ROWS, Path("OUT"), timer, log=lambda _: None), calls


def _pick(rows):
    return recommend(rows, Baseline(dice=0.95), "semantic", "given")


def test_each_format_is_timed_together_and_only_its_deployable_artifacts():
    rows, calls = _timed({"model_float32.tflite": 9.0, "model_int8.tflite": 3.0, "model_channels_int8.tflite": 2.9,
                          "model.onnx": 5.0, "model_int8.onnx": 7.0})
    assert calls == [("tflite", ["model_float32.tflite", "model_int8.tflite", "model_channels_int8.tflite"]),
                     ("onnx", ["model.onnx", "model_int8.onnx"])]
    timed = {r.path: r for r in rows}
    assert timed["model_float16.tflite"].p50_ms is None and timed["model.h5"].p50_ms is None
    assert timed["model_int8.onnx"].p50_ms == 7.0 and timed["model_int8.onnx"].timed_on == "litert-cpu, 2 threads"


def test_the_fastest_measured_is_recommended_never_a_slower_one():
    rows, _ = _timed({"model_float32.tflite": 9.0, "model_int8.tflite": 3.0, "model_channels_int8.tflite": 3.5,
                      "model.onnx": 5.0, "model_int8.onnx": 7.0})
    chosen = _pick(rows)
    assert chosen["tflite"].path == "model_int8.tflite"  # fewer FLOPs, but slower where it runs
    assert chosen["onnx"].path == "model.onnx" and chosen["onnx"].p50_ms == 5.0  # int8 ONNX ran slower here
    for fmt, pick in chosen.items():  # the rule itself
        assert all(pick.p50_ms <= r.p50_ms for r in rows if r.format == fmt and r.deployable and r.p50_ms)


def test_a_tie_goes_to_the_smaller_file_and_untimed_rows_keep_the_old_order():
    rows, _ = _timed({"model_float32.tflite": 3.0, "model_int8.tflite": 3.0, "model_channels_int8.tflite": 3.0,
                      "model.onnx": 5.0, "model_int8.onnx": 5.0})
    chosen = _pick(rows)
    assert chosen["tflite"].path == "model_channels_int8.tflite" and chosen["onnx"].path == "model_int8.onnx"
    untimed = _pick(ROWS)
    assert untimed["tflite"].path == "model_channels_int8.tflite" and untimed["tflite"].p50_ms is None


def test_a_format_that_cannot_be_timed_says_why_and_keeps_the_old_order():
    said = []
    rows = time_deployable(ROWS, Path("OUT"), lambda fmt, paths: "ort-cpu unavailable: not installed", said.append)
    assert all(r.p50_ms is None for r in rows) and _pick(rows)["onnx"].path == "model_int8.onnx"
    assert said[-1] == "      onnx: not timed (ort-cpu unavailable: not installed); the verdict ranks it by precision and size"


def test_the_ship_line_shows_the_measured_figure():
    rows, _ = _timed({"model_float32.tflite": 9.0, "model_int8.tflite": 3.0, "model_channels_int8.tflite": 2.5,
                      "model.onnx": 5.0, "model_int8.onnx": 7.0})
    pick = _pick(rows)["tflite"]
    assert pick.p50_ms == 2.5 and pick.timed_on == "litert-cpu, 2 threads"
    line = _ship_line("tflite", pick)
    assert "p50 2.500 ms on litert-cpu, 2 threads (the fastest deployable tflite here, timed together)" in line
    assert Baseline is not None and pick.to_dict()["p50_ms"] == 2.5  # into report.json's typed record
