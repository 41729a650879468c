import subprocess
import sys

import edgeseg

# The public API, exactly: a name added or dropped is a decision, made here as well.
PUBLIC = {"BenchConfig", "CompressConfig", "CompressReport", "CompressResult", "DataConfig", "EdgesegError",
          "ModelConfig", "PreprocessSpec", "Segmenter", "TrainConfig", "bench", "build_model", "compress",
          "evaluate_predictor", "load_model", "load_segmenter", "load_splits", "make_bundle", "prune_channels",
          "read_compress_report", "save_model", "train", "__version__"}
HEAVY = ("tensorflow", "tf_keras", "keras", "tensorflow_model_optimization", "tf2onnx", "onnxruntime")


def test_public_api_is_exactly_the_documented_set():
    assert set(edgeseg.__all__) == PUBLIC
    assert edgeseg.__all__ == sorted(edgeseg.__all__[:-1]) + ["__version__"]
    assert set(dir(edgeseg)) == PUBLIC  # what tab completion offers


def test_touching_every_public_name_leaves_tensorflow_unloaded():
    """Each name resolves (to a class, a function or a callable package); the heavy libraries
    load only when a function runs. In a fresh interpreter: this one has imported them already."""
    code = ("import sys, edgeseg\n"
            "values = [getattr(edgeseg, name) for name in edgeseg.__all__]\n"
            "assert all(callable(v) for v in values[:-1]), values\n"
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == ""


def test_light_names_resolve_without_tensorflow():
    assert edgeseg.PreprocessSpec(32, 32).labels == 2
    assert issubclass(edgeseg.EdgesegError, Exception)


def test_unknown_attribute_raises():
    import pytest

    with pytest.raises(AttributeError):
        edgeseg.no_such_thing  # noqa: B018


def test_compress_and_bench_stay_callable_whatever_was_imported_first():
    """Both are packages and public functions; importing a submodule must not shadow the function."""
    code = ("import edgeseg, edgeseg.compress.plan, edgeseg.bench.run, sys; "
            "assert callable(edgeseg.compress) and callable(edgeseg.bench); "
            "assert 'tensorflow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_callable_packages_show_the_real_parameters():
    import inspect

    assert "data" in inspect.signature(edgeseg.compress).parameters
    assert "config" in inspect.signature(edgeseg.bench).parameters


def test_help_on_a_callable_package_documents_the_call_first():
    import pydoc

    text = pydoc.render_doc(edgeseg.compress, renderer=pydoc.plaintext)
    assert text.index("Prune, quantize, export and verify") < text.index("The package:")
    assert "edgeseg.compress(model" in text
