import subprocess
import sys

HEAVY = ("tensorflow", "tf_keras", "onnxruntime", "tensorflow_model_optimization", "tf2onnx")


def _loaded_after(statement: str) -> list[str]:
    code = f"import sys; {statement}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


def test_import_edgeseg_stays_light():
    assert _loaded_after("import edgeseg") == []


def test_cli_parser_data_and_runtimes_stay_light():
    stmt = "import edgeseg.cli, edgeseg.data, edgeseg.runtimes, edgeseg.metrics; edgeseg.cli.build_parser()"
    assert _loaded_after(stmt) == []


def test_device_side_and_bench_modules_stay_light():
    stmt = ("import edgeseg.deploy.segmenter, edgeseg.deploy.bundle, edgeseg.deploy.predict, edgeseg.artifacts.edgetpu, "
            "edgeseg.bench.run, edgeseg.bench.merge, edgeseg.artifacts.tflite")
    assert _loaded_after(stmt) == []


def test_heavy_import_happens_on_demand():
    # Also proves the checker above can see a heavy import when there is one.
    loaded = _loaded_after("import edgeseg; edgeseg.build_model(edgeseg.ModelConfig(preset='tiny'))")
    assert "tf_keras" in loaded


def test_legacy_keras_flag_is_set_in_exactly_one_module():
    import re
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "edgeseg"
    literal = re.compile(r"[\"']TF_USE_LEGACY_KERAS[\"']")
    setters = [p.name for p in package.rglob("*.py") if literal.search(p.read_text())]
    assert setters == ["backend.py"]
