import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from hypothesis import settings
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

# Shared CI machines stall for seconds at a time: a property holds or not whatever the clock says.
settings.register_profile("edgeseg", deadline=None)
settings.load_profile("edgeseg")


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Runs the real console entry point in a subprocess, as a user would."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "edgeseg", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=env, timeout=600)


def last_error_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("edgeseg: error:")]
    assert len(lines) == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    return lines[0]


def fake_keras_archive(path: Path, version: str = "3.15.1", config: str = "{}") -> Path:
    """A .keras zip with the right entries and a chosen Keras version, but no usable model."""
    import json
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": version}))
        archive.writestr("config.json", config)
        archive.writestr("model.weights.h5", b"")
    return path


def write_pair(root: Path, stem: str, image: np.ndarray, mask: np.ndarray, suffix=".png", mask_suffix=".png"):
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(root / "images" / f"{stem}{suffix}")
    Image.fromarray(mask).save(root / "masks" / f"{stem}{mask_suffix}")


def make_directory_dataset(root: Path, count: int = 6, size: int = 40) -> Path:
    from edgeseg.data.synthetic import synth_sample

    for i in range(count):
        pixels, labels = synth_sample(size, size, i, seed=3)
        write_pair(root, f"img{i:02d}", pixels[..., 0], (labels * 255).astype(np.uint8))
    return root


def shared(tmp_path_factory, name: str, build: Callable[[Path], dict]) -> dict:
    """build(folder)'s JSON record, made once per test run: under pytest-xdist every worker would
    otherwise train or compress the same model again, so the first builds it under a lock in the
    run's common folder and the others read its record."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return build(tmp_path_factory.mktemp(name))
    import fcntl
    import shutil

    root = tmp_path_factory.getbasetemp().parent
    folder, record = root / f"shared-{name}", root / f"shared-{name}.json"
    with open(root / f"shared-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not record.exists():
            shutil.rmtree(folder, ignore_errors=True)  # a worker that failed building it left this
            folder.mkdir()
            made = build(folder)
            record.write_text(json.dumps(made))
    return json.loads(record.read_text())


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    """A tiny U-Net (32x32, 4 filters) trained once for the whole session."""
    from edgeseg.config import DataConfig, ModelConfig, TrainConfig
    from edgeseg.training import train

    def build(folder: Path) -> dict:
        result = train(TrainConfig(model=ModelConfig(preset="tiny"), data=DataConfig(synthetic_train=256,
                                                                                     synthetic_val=32),
                                   epochs=8, batch_size=16, verbose=0), folder / "tiny.keras")
        return {"path": str(result.path)}

    return Path(shared(tmp_path_factory, "tiny", build)["path"])


@pytest.fixture(scope="session")
def instance_model(tmp_path_factory):
    """A tiny instance U-Net (32x32, 4 filters) trained enough on synthetic touching objects to
    separate them (PQ well above the sanity floor), trained once for the whole session."""
    from edgeseg.config import DataConfig, ModelConfig, TrainConfig
    from edgeseg.training import train

    def build(folder: Path) -> dict:
        train(TrainConfig(model=ModelConfig(preset="tiny", task="instance"),
                          data=DataConfig(synthetic_train=96, synthetic_val=8), epochs=25, batch_size=16,
                          learning_rate=1e-2, patience=25, verbose=0), folder / "inst.keras")
        return {"path": str(folder / "inst.keras")}

    return Path(shared(tmp_path_factory, "instance", build)["path"])


SMALL_DATA = ["--synthetic-train", "64", "--synthetic-val", "16", "--calibration-samples", "16",
              "--finetune-steps", "40"]  # fine-tuning mechanics, not figures: a short budget


@pytest.fixture(scope="session")
def compressed(tiny_model_path, tmp_path_factory):
    """One real compress run through the CLI, shared by the compress and bench checks:
    (the finished process, the output directory, the model's sha256 before the run)."""
    import hashlib

    def build(folder: Path) -> dict:
        before = hashlib.sha256(tiny_model_path.read_bytes()).hexdigest()
        result = run_cli("compress", str(tiny_model_path), "--out", str(folder / "out"), "--sparsity", "0.5",
                         *SMALL_DATA)
        return {"args": result.args, "returncode": result.returncode, "stdout": result.stdout,
                "stderr": result.stderr, "out": str(folder / "out"), "before": before}

    made = shared(tmp_path_factory, "compress", build)
    result = subprocess.CompletedProcess(made["args"], made["returncode"], made["stdout"], made["stderr"])
    return result, Path(made["out"]), made["before"]


TENSORFLOW_MODULES = ("tensorflow", "tf_keras", "tensorflow_model_optimization", "tf2onnx", "keras")

BLOCKER = """
import importlib.abc, sys
class _Absent(importlib.abc.MetaPathFinder):
    # Stands in for a machine without these packages: their imports fail as if not installed.
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {names!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}")
        return None
sys.meta_path.insert(0, _Absent())
"""


def run_python_without(modules, code: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Runs `code` in a fresh interpreter where `modules` (top-level names) cannot be imported."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-c", BLOCKER.format(names=tuple(modules)) + code], capture_output=True,
                          text=True, cwd=cwd or ROOT, env=env, timeout=600)


def run_python_without_tensorflow(code: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """A device with no TensorFlow, tf_keras or Keras."""
    return run_python_without(TENSORFLOW_MODULES, code, cwd)


# Fixtures that train, convert or compress a model: a test that uses one must be marked slow,
# so that `pytest -m "not slow"` stays a fast loop.
HEAVY_FIXTURES = {"tiny_model_path", "compressed", "benched", "tiny", "raw_int8", "instance_model"}


def pytest_collection_modifyitems(config, items):
    unmarked = [item.nodeid for item in items
                if HEAVY_FIXTURES & set(getattr(item, "fixturenames", ())) and item.get_closest_marker("slow") is None]
    if unmarked:
        raise pytest.UsageError("mark these tests slow (they use a model-training fixture): " + ", ".join(unmarked))
