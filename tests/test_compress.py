import hashlib
import itertools
import json
import re

import numpy as np
import pytest

from conftest import SMALL_DATA, fake_keras_archive, last_error_line, run_cli

pytestmark = pytest.mark.slow  # every test here trains, converts or compresses


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_compress_succeeds_and_reports(compressed, tiny_model_path):
    result, out, before = compressed
    assert result.returncode == 0, result.stderr[-3000:]
    assert _sha(tiny_model_path) == before  # the user's file is never modified
    # No --data: the tiny model records that edgeseg trained it on synthetic data, and that is used.
    assert "measured on synthetic: the data the model was trained on" in result.stdout
    for step in ("[1/5]", "[5/5]", "model_int8.tflite", "the plan:"):
        assert step in result.stdout
    assert re.search(r"step \d+/\d+: loss \d", result.stdout)  # fine-tuning progress
    assert re.search(r"ptq: Dice .*\(\d+\.\d s\)", result.stdout)  # elapsed time of each conversion
    report = json.loads((out / "report.json").read_text())
    assert report["schema"] == "edgeseg.compress/2"
    assert report["model_sha256"] == before
    assert 0.8 <= report["baseline"]["dice"] <= 1.0
    assert set(report["timings"]) >= {"load", "baseline", "pruned", "artifacts", "speed"}
    names = {a["path"] for a in report["artifacts"]}
    assert names >= {"model_float32.tflite", "model_float16.tflite", "model_dynamic_range.tflite",
                     "model_int8.tflite", "model_int8_float_io.tflite", "model_pruned_int8.tflite",
                     "model.onnx", "model_int8.onnx", "model_pruned.onnx", "model_pruned_int8.onnx"}
    assert names == {t["filename"] for t in report["plan"]}  # the plan is what was made
    for artifact in report["artifacts"]:
        path = out / artifact["path"]
        assert path.is_file() and path.stat().st_size == artifact["bytes"]
        assert 0 < artifact["gzip_bytes"] and 0.0 <= artifact["dice"] <= 1.0
        assert artifact["runtime"] == ("litert-cpu" if artifact["format"] == "tflite" else "ort-cpu")
        assert artifact["max_abs_diff"] is not None
        assert artifact["sha256"] == _sha(path) and artifact["source"] in ("base", "pruned")
    _assert_markdown_table_matches(out / "report.md", report["artifacts"])
    assert (out / "pruned.keras").is_file()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporaries left


def _assert_markdown_table_matches(markdown, artifacts):
    """report.md's artifact table has one row per artifact of report.json, with its Dice and verdict."""
    lines = markdown.read_text().splitlines()
    header = lines.index("| path | format | precision | sparsity | flops | bytes | gzip_bytes | dice | iou | "
                         "max_abs_diff | deployable | reason |")
    table = itertools.takewhile(lambda line: line.startswith("|"), lines[header + 2:])
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table]
    assert [r[0] for r in rows] == [a["path"] for a in artifacts]
    for row, a in zip(rows, artifacts):
        assert row[7] == f"{a['dice']:.4f}" and row[10] == ("yes" if a["deployable"] else "NO"), (row, a)


def test_int8_artifacts_are_deployable_within_budget(compressed):
    report = json.loads((compressed[1] / "report.json").read_text())
    base = report["baseline"]["dice"]
    by_path = {a["path"]: a for a in report["artifacts"]}
    for name in ("model_int8.tflite", "model_int8.onnx"):
        a = by_path[name]
        assert a["deployable"] == (a["dice"] >= base - 0.01), a
        assert a["attempts"][0]["method"] == "ptq"
    assert by_path["model_float32.tflite"]["max_abs_diff"] < 1e-4
    assert by_path["model_float32.tflite"]["deployable"]


def test_measured_sparsity_meets_target(compressed):
    report = json.loads((compressed[1] / "report.json").read_text())
    assert abs(report["pruning"]["sparsity_model"] - 0.5) <= 0.01
    pruned = next(a for a in report["artifacts"] if a["path"] == "model_pruned_int8.tflite")
    assert abs(pruned["sparsity"] - 0.5) <= 0.01
    assert pruned["gzip_bytes"] < next(a for a in report["artifacts"] if a["path"] == "model_int8.tflite")["gzip_bytes"]
    unpruned = next(a for a in report["artifacts"] if a["path"] == "model_float32.tflite")
    assert unpruned["sparsity"] < 0.05


def test_artifacts_run_in_their_runtimes(compressed):
    import onnx
    from ai_edge_litert.interpreter import Interpreter

    out = compressed[1]
    interpreter = Interpreter(model_path=str(out / "model_int8.tflite"))
    assert interpreter.get_input_details()[0]["dtype"] == np.int8
    assert interpreter.get_output_details()[0]["dtype"] == np.int8
    float_io = Interpreter(model_path=str(out / "model_int8_float_io.tflite"))
    assert float_io.get_input_details()[0]["dtype"] == np.float32
    assert float_io.get_output_details()[0]["dtype"] == np.float32

    from edgeseg.runtimes.onnxrt import OnnxSession

    for name in ("model.onnx", "model_int8.onnx"):
        proto = onnx.load(str(out / name))
        onnx.checker.check_model(proto)
        assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
        graph_input = proto.graph.input[0]
        assert graph_input.name == "input"
        assert not graph_input.type.tensor_type.shape.dim[0].HasField("dim_value")  # dynamic batch
        probs = OnnxSession(out / name).run(np.zeros((3, 32, 32, 1), np.float32))
        assert probs.shape == (3, 32, 32, 1)
    proto = onnx.load(str(out / "model_int8.onnx"))
    assert any(node.op_type == "QuantizeLinear" for node in proto.graph.node)


def test_existing_output_is_not_replaced_without_force(compressed, tiny_model_path):
    out = compressed[1]
    before = (out / "report.json").read_text()
    result = run_cli("compress", str(tiny_model_path), "--out", str(out), *SMALL_DATA)
    assert result.returncode == 2 and "--force" in last_error_line(result)
    assert (out / "report.json").read_text() == before


@pytest.mark.parametrize("args, message", [
    (["--sparsity", "1.0"], "--sparsity must be in [0, 1)"),
    (["--max-dice-drop", "-1"], "--max-dice-drop"),
    (["--data", "/no/such/dir"], "data directory not found"),
])
def test_bad_options_exit_2_and_write_nothing(tiny_model_path, tmp_path, args, message):
    out = tmp_path / "out"
    result = run_cli("compress", str(tiny_model_path), "--out", str(out), *args)
    assert result.returncode == 2
    assert message in last_error_line(result)
    assert not out.exists()


def test_broken_keras3_and_non_model_files_are_refused(tmp_path):
    keras3 = fake_keras_archive(tmp_path / "k3.keras")
    result = run_cli("compress", str(keras3))
    assert result.returncode == 2 and "cannot load" in last_error_line(result)
    text = tmp_path / "notes.keras"
    text.write_text("hello")
    result = run_cli("compress", str(text))
    assert result.returncode == 2 and "not a valid .keras" in last_error_line(result)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k3.keras", "notes.keras"]


@pytest.mark.slow
def test_compress_ends_with_a_verdict_and_the_next_commands(compressed):
    result, out, _ = compressed
    tail = result.stdout[result.stdout.index("verdict:"):].splitlines()
    report = json.loads((out / "report.json").read_text())
    recommended = report["recommended"]
    assert set(recommended) == {"tflite", "onnx"}
    pick = recommended["tflite"]
    assert (out / pick["path"]).is_file()
    rows = {a["path"]: a for a in report["artifacts"]}
    # The rule, not a file name (which one is fastest on a 32x32 model is the machine's to say):
    # every deployable artifact of the format was timed together, and none is faster than the pick.
    for fmt, chosen in recommended.items():
        timed = [a for a in report["artifacts"] if a["format"] == fmt and a["deployable"]]
        assert all(a["p50_ms"] > 0 and a["timed_on"] == chosen["timed_on"] for a in timed)
        assert chosen["p50_ms"] == min(a["p50_ms"] for a in timed) == rows[chosen["path"]]["p50_ms"]
    assert pick["size_ratio"] == pytest.approx(rows[pick["path"]]["bytes"] / rows["model_float32.tflite"]["bytes"])
    ship = next(line for line in tail if line.startswith("  ship tflite:"))
    assert pick["path"] in ship and f"Dice {pick['dice']:.4f}" in ship and " MB" in ship and "x the size of" in ship
    assert f"p50 {pick['p50_ms']:.3f} ms on litert-cpu" in ship
    # One line per rejected artifact and none for the others, whether or not this run rejected any.
    assert [line for line in tail if line.startswith("  rejected ")] == \
        [f"  rejected {a['path']}: {a['reason']}" for a in report["artifacts"] if not a["deployable"]]
    assert f"  edgeseg bench {out}" in "\n".join(tail) and f"  edgeseg bundle {out}" in "\n".join(tail)
    assert " MB" in (out / "report.md").read_text() and "KiB" not in result.stdout  # one size unit


@pytest.mark.slow
def test_bundle_defaults_to_the_recommended_artifact(compressed, tmp_path):
    out = compressed[1]
    recommended = json.loads((out / "report.json").read_text())["recommended"]["tflite"]["path"]
    bundle = tmp_path / "b.zip"
    result = run_cli("bundle", str(out), "--out", str(bundle))
    assert result.returncode == 0, result.stderr[-2000:]
    assert recommended in result.stdout
    by_path = run_cli("bundle", str(out), "--artifact", str(out / "model_int8.onnx"), "--out", str(tmp_path / "o.zip"))
    assert by_path.returncode == 0 and "model_int8.onnx" in by_path.stdout, by_path.stderr[-2000:]
