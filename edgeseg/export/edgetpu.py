"""Compiles an int8 .tflite for the Edge TPU with edgetpu_compiler, when it is installed."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ..config import EDGETPU_RUNTIME
from ..errors import ModelError, UsageError

COMPILER = "edgetpu_compiler"
HOW_TO_GET_COMPILER = ("edgetpu_compiler is not on PATH. It runs on x86-64 Debian/Ubuntu: add Coral's apt "
                       "repository and `apt-get install edgetpu-compiler` (see coral.ai/docs/edgetpu/compiler), "
                       "then run `edgetpu_compiler -m {version} model_int8.tflite`.")


def compile_model(path: Path, out_dir: Path, runtime_version: int = EDGETPU_RUNTIME) -> tuple[Path, str]:
    """Runs edgetpu_compiler; returns (the *_edgetpu.tflite, the compiler's log)."""
    compiler = shutil.which(COMPILER)
    if compiler is None:
        raise UsageError(HOW_TO_GET_COMPILER.format(version=runtime_version))
    result = subprocess.run([compiler, "-s", "-m", str(runtime_version), "-o", str(out_dir), str(path)],
                            capture_output=True, text=True, timeout=600)
    compiled = Path(out_dir) / f"{Path(path).stem}_edgetpu.tflite"
    if result.returncode != 0 or not compiled.is_file():
        last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ModelError(f"edgetpu_compiler failed on {Path(path).name}: {last[0][:300]}")
    return compiled, result.stdout
