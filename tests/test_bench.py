"""edgeseg bench end to end on the tiny model's real compress output: rows, outputs, the CI
gate through the CLI (on Dice and size only: no test depends on a latency figure), merge, and
bench on a machine without TensorFlow."""
import json

import pytest

from conftest import last_error_line, run_cli, run_python_without_tensorflow

pytestmark = pytest.mark.slow  # every test here trains, converts or compresses

FAST = ["--min-runs", "3", "--min-time", "0", "--warmup", "1"]


@pytest.fixture(scope="module")
def benched(compressed, tmp_path_factory):
    out_dir = compressed[1]
    tmp = tmp_path_factory.mktemp("bench")
    result = run_cli("bench", str(out_dir), "--runtimes", "litert-cpu,ort-cpu,ort-cuda", *FAST,
                     "--json", str(tmp / "b.json"), "--csv", str(tmp / "b.csv"), "--md", str(tmp / "b.md"),
                     "--plot", str(tmp / "b.png"))
    return result, tmp, out_dir


def test_bench_measures_every_artifact_on_its_runtimes(benched):
    result, tmp, out_dir = benched
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp / "b.json").read_text())
    assert report["schema"] == "edgeseg.bench/1"
    compress = json.loads((out_dir / "report.json").read_text())
    rows = {(r["artifact"], r["runtime"]): r for r in report["rows"]}
    for artifact in compress["artifacts"]:
        runtime = "litert-cpu" if artifact["format"] == "tflite" else "ort-cpu"
        row = rows[(artifact["path"], runtime)]
        assert row["status"] == "ok", row
        assert row["bytes"] == artifact["bytes"] and row["gzip_bytes"] == artifact["gzip_bytes"]
        assert row["precision"] == artifact["precision"]
        # No --data: bench measures on the compress folder's data, so its Dice is report.json's.
        assert row["dice"] == pytest.approx(artifact["dice"], abs=1e-6)
        assert row["deployable"] == artifact["deployable"]
        assert row["runs"] >= 3 and row["p50_ms"] > 0 and row["min_ms"] <= row["p50_ms"] <= row["p99_ms"]
        assert row["threads"] >= 1 and row["load_ms"] >= 0
    assert all(r["images"] == compress["baseline"]["images"] for r in report["rows"] if r["status"] == "ok")
    assert report["dice_floor"] == pytest.approx(compress["baseline"]["dice"] - compress["config"]["max_dice_drop"])
    reference = rows[("model_float32.tflite", "litert-cpu")]
    int8 = rows[("model_int8.tflite", "litert-cpu")]
    assert int8["speedup"] == pytest.approx(reference["p50_ms"] / int8["p50_ms"])
    assert int8["size_ratio"] == pytest.approx(int8["bytes"] / reference["bytes"])
    cuda = [r for r in report["rows"] if r["runtime"] == "ort-cuda"]
    onnx_files = {a["path"] for a in json.loads((out_dir / "report.json").read_text())["artifacts"]
                  if a["format"] == "onnx"}
    assert {r["artifact"] for r in cuda} == onnx_files  # every ONNX artifact of every source
    assert all(r["status"] == "unavailable" and r["p50_ms"] is None for r in cuda)
    assert "CUDAExecutionProvider" in cuda[0]["reason"]
    assert not any(r["runtime"] == "keras-cpu" for r in report["rows"])  # not asked for
    machine = report["machine"]
    assert machine["cores"] >= 1 and machine["cpu"] and "ai-edge-litert" in machine["packages"]


def test_bench_writes_table_csv_markdown_and_plot(benched):
    result, tmp, _ = benched
    header = next(line for line in result.stdout.splitlines() if line.startswith("Artifact"))
    for column in ("Format", "Runtime", "Status", "Deployable", "Size MB", "Size x", "Dice", "p50 ms", "Speed-up",
                   "FPS"):
        assert column in header
    assert "ort-cuda: unavailable:" in result.stdout  # a footnote, not rows
    assert not [line for line in result.stdout.splitlines() if "ort-cuda" in line and "unavailable" in line
                and not line.startswith("ort-cuda:")]
    csv_lines = (tmp / "b.csv").read_text().splitlines()
    assert csv_lines[0].startswith("machine,artifact,format,precision,runtime")
    assert len(csv_lines) == 1 + len(json.loads((tmp / "b.json").read_text())["rows"])
    assert "| Artifact |" in (tmp / "b.md").read_text()
    assert (tmp / "b.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_existing_outputs_are_kept_without_force(benched):
    _, tmp, out_dir = benched
    before = (tmp / "b.json").read_text()
    result = run_cli("bench", str(out_dir), "--runtimes", "litert-cpu", *FAST, "--json", str(tmp / "b.json"))
    assert result.returncode == 2 and "--force" in last_error_line(result)
    assert (tmp / "b.json").read_text() == before


def test_gate_passes_against_itself_and_fails_on_a_dice_regression(benched, tmp_path):
    _, tmp, out_dir = benched
    base = json.loads((tmp / "b.json").read_text())
    args = ["bench", str(out_dir), "--runtimes", "litert-cpu", *FAST, "--fail-on", "dice=-0.005,size=+2%"]
    same = run_cli(*args, "--baseline", str(tmp / "b.json"))
    assert same.returncode == 0, same.stdout[-2000:] + same.stderr[-2000:]
    assert "gate: 0 regression(s)" in same.stdout
    better = next(r for r in base["rows"] if r["artifact"] == "model_int8.tflite")
    better["dice"] += 0.1  # a baseline that scored higher: this run is now a regression
    (tmp_path / "base.json").write_text(json.dumps(base))
    worse = run_cli(*args, "--baseline", str(tmp_path / "base.json"))
    assert worse.returncode == 1
    assert "gate: REGRESSION: model_int8.tflite @ litert-cpu: Dice" in worse.stdout


def test_bench_merge_labels_rows_by_machine(benched, tmp_path):
    _, tmp, _ = benched
    other = json.loads((tmp / "b.json").read_text())
    other["machine"]["label"] = "jetson (ARMv8, 6 cores)"
    (tmp_path / "jetson.json").write_text(json.dumps(other))
    md, png = tmp_path / "all.md", tmp_path / "all.png"
    result = run_cli("bench", "merge", str(tmp / "b.json"), str(tmp_path / "jetson.json"), "--md", str(md),
                     "--plot", str(png))
    assert result.returncode == 0, result.stderr[-2000:]
    text = md.read_text()
    assert "| Machine | Artifact |" in text and "| jetson (ARMv8, 6 cores) | model_int8.tflite |" in text
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_bench_merge_names_the_bad_file(benched, tmp_path):
    _, tmp, _ = benched
    old = json.loads((tmp / "b.json").read_text()) | {"schema": "edgeseg.bench/0"}
    (tmp_path / "old.json").write_text(json.dumps(old))
    (tmp_path / "cut.json").write_text((tmp / "b.json").read_text()[:200])
    for name, message in (("old.json", "schema 'edgeseg.bench/0'"), ("cut.json", "not a readable bench JSON")):
        result = run_cli("bench", "merge", str(tmp / "b.json"), str(tmp_path / name))
        line = last_error_line(result)
        assert result.returncode == 2 and name in line and message in line


@pytest.mark.parametrize("args, message", [
    (["--runtimes", "warp-drive"], "unknown runtime 'warp-drive'"),
    (["--fail-on", "latency=+5%"], "--fail-on and --reference need --baseline"),
    (["--threads", "0"], "--threads must be >= 1"),
])
def test_bench_bad_options(compressed, args, message):
    result = run_cli("bench", str(compressed[1]), *args)
    assert result.returncode == 2 and message in last_error_line(result)


def test_bench_runs_without_tensorflow(compressed, tiny_model_path, tmp_path):
    """A device with ai-edge-litert and onnxruntime but no TensorFlow: the Keras rows are
    unavailable with the reason, the others are measured."""
    out = tmp_path / "device.json"
    code = (f"from edgeseg.cli import main; import sys; rc = main(['bench', {str(compressed[1])!r}, "
            f"{str(tiny_model_path)!r}, '--runtimes', 'keras-cpu,litert-cpu', '--min-runs', '3', '--min-time', '0', "
            f"'--synthetic-val', '4', '--json', {str(out)!r}]); "
            "assert 'tensorflow' not in sys.modules; sys.exit(rc)")
    result = run_python_without_tensorflow(code)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    keras_rows = [r for r in rows if r["runtime"] == "keras-cpu"]
    assert keras_rows and all(r["status"] == "unavailable" and "tensorflow is not installed" in r["reason"]
                              for r in keras_rows)
    litert = [r for r in rows if r["runtime"] == "litert-cpu"]
    assert litert and all(r["status"] == "ok" and r["dice"] is not None for r in litert)


def test_edgetpu_models_get_a_tpu_row_that_says_why_it_did_not_run(compressed, tmp_path):
    import shutil

    out_dir = tmp_path / "with_tpu"
    shutil.copytree(compressed[1], out_dir)
    shutil.copy(out_dir / "model_int8.tflite", out_dir / "model_int8_edgetpu.tflite")  # as edgetpu_compiler names it
    result = run_cli("bench", str(out_dir), "--runtimes", "litert-edgetpu,litert-cpu", *FAST,
                     "--json", str(tmp_path / "b.json"))
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads((tmp_path / "b.json").read_text())["rows"]
    tpu = [r for r in rows if r["runtime"] == "litert-edgetpu"]
    assert [r["artifact"] for r in tpu] == ["model_int8_edgetpu.tflite"]
    assert tpu[0]["status"] == "unavailable" and "libedgetpu.so.1" in tpu[0]["reason"] and tpu[0]["p50_ms"] is None
    assert tpu[0]["device"] == "tpu"
