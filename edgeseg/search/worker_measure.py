"""`edgeseg search-worker --role measure`: on the device, time the int8 candidates other workers
fine-tuned, and record each latency under this device's runtime and machine label.

No TensorFlow: the candidates are read from the study's cache folder (shared, or copied to the
device and given with --cache), checked against the sha256 their trial recorded, and run in the
device runtime (LiteRT, or the Edge TPU delegate)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import UsageError
from .timing import measure_interleaved
from .study import IDENTITY, MEASURED, RUN, record_latency


def unmeasured(study, runtime: str, machine: str) -> list:
    """Finished trials with no latency yet from this runtime and machine."""
    from optuna.trial import TrialState

    done = {key.split("|")[1] for key in study.user_attrs if key.startswith(f"{MEASURED}|")
            and key.endswith(f"|{runtime}|{machine}")}
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if "ratio" in t.params and str(t.number) not in done
            and (t.user_attrs.get("runtime"), t.user_attrs.get("machine")) != (runtime, machine)]


def _checked_file(cache: Path, trial, log: Callable[[str], None]) -> Path | None:
    from ..artifacts.files import sha256

    path = cache / trial.user_attrs["key"] / "int8.tflite"
    if not path.is_file():
        log(f"      trial {trial.number}: {path} is not here (copy the study's cache folder, or give --cache)")
        return None
    if sha256(path) != trial.user_attrs.get("sha256"):
        log(f"      trial {trial.number}: {path} is not the file the trial measured (sha256 differs): skipped")
        return None
    return path


def measure_pass(study, runtime, machine: str, cache: Path, threads: int, log: Callable[[str], None]) -> int:
    """Times every unmeasured candidate, interleaved in one run; returns how many were recorded."""
    trials = unmeasured(study, runtime.name, machine)
    files = [(t, p) for t in trials if (p := _checked_file(cache, t, log)) is not None]
    if not files:
        return 0
    shape = study.user_attrs.get(RUN, {}).get("input_shape")
    image = np.zeros([1, *shape], dtype="float32") if shape else None
    if image is None:
        raise UsageError("the study records no input shape; it was made by an older edgeseg")
    p50s = measure_interleaved([p for _, p in files], lambda p: runtime.load(p, threads), image)
    for (trial, _), p50 in zip(files, p50s):
        record_latency(study, trial.number, runtime.name, machine, p50)
        log(f"      trial {trial.number} (ratio {trial.params['ratio']}): p50 {p50:.3f} ms on {runtime.name}, {machine}")
    return len(files)


def measure_worker(study, runtime, machine: str, cache: Path | None, threads: int, seconds: float,
                   poll_s: float = 5.0, log: Callable[[str], None] = print) -> int:
    """Measures candidates as they finish until the study has nothing queued or running (or
    `seconds` pass); returns how many latencies it recorded."""
    from optuna.trial import TrialState

    cache = cache or Path(study.user_attrs[IDENTITY]["cache"])
    recorded, deadline = 0, time.monotonic() + seconds
    while True:
        recorded += measure_pass(study, runtime, machine, cache, threads, log)
        busy = study.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING))
        if not busy or time.monotonic() > deadline:
            return recorded
        time.sleep(poll_s)


__all__ = ["measure_pass", "measure_worker", "unmeasured"]
