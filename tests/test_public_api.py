import edgeseg


def test_public_api_is_guarded():
    assert edgeseg.__all__ == sorted(edgeseg.__all__[:-1]) + ["__version__"]
    assert {"train", "compress", "load_model", "build_model", "PreprocessSpec", "CompressConfig"} <= set(edgeseg.__all__)


def test_light_names_resolve_without_tensorflow():
    assert edgeseg.PreprocessSpec(32, 32).labels == 2
    assert issubclass(edgeseg.EdgesegError, Exception)


def test_unknown_attribute_raises():
    import pytest

    with pytest.raises(AttributeError):
        edgeseg.no_such_thing  # noqa: B018


def test_compress_and_bench_stay_callable_whatever_was_imported_first():
    """Both are packages and public functions; importing a submodule must not shadow the function."""
    import subprocess
    import sys

    code = ("import edgeseg, edgeseg.compress.budget, edgeseg.bench.run, sys; "
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
