"""`edgeseg search-worker`: join a --prune auto study from any machine (thin: the work is in
edgeseg/compress/study_train.py and study_measure.py)."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

ROLES = ("train", "measure")


def add_search_worker_parser(sub) -> None:
    w = sub.add_parser("search-worker", help="join a --prune auto study: fine-tune candidates, or time them on "
                                             "this device")
    w.add_argument("--study", required=True, metavar="PATH_OR_URL",
                   help="the study `compress --prune auto --study` made (a .sqlite3/.journal file or a database URL)")
    w.add_argument("--target", default="litert-cpu", help="the runtime latency is measured on here")
    w.add_argument("--role", choices=ROLES, default="train",
                   help="train: fine-tune, quantize, verify and time queued candidates (needs TensorFlow); "
                        "measure: time the candidates others fine-tuned, on this device (no TensorFlow)")
    w.add_argument("--model", default=None, help="--role train: the model file, where its path differs here")
    w.add_argument("--data", default=None, help="--role train: the data folder, where its path differs here")
    w.add_argument("--cache", default=None, metavar="DIR",
                   help="the study's candidate cache, where its path differs here (a shared folder or a copy)")
    w.add_argument("--threads", type=int, default=None, help="--role measure: runtime threads (default: all cores)")
    w.add_argument("--time", type=float, default=3600.0, help="stop after this many seconds")
    w.set_defaults(func=_cmd_search_worker)


def _check(a: argparse.Namespace) -> None:
    from ..search.study import check_location
    from ..errors import UsageError
    from ..safety import finite

    check_location(a.study)
    finite("--time", a.time, high=7 * 24 * 3600)
    if a.threads is not None:
        finite("--threads", a.threads, 1, 1024)
    if a.role == "measure" and (a.model or a.data):
        raise UsageError("--model and --data are for --role train (measure times the cached candidates)")
    if a.cache and not Path(a.cache).is_dir():
        raise UsageError(f"--cache {a.cache} is not a folder")
    if "://" not in a.study and not Path(a.study).is_file():
        raise UsageError(f"--study {a.study} does not exist; start the study with `edgeseg compress MODEL "
                         f"--prune auto --study {a.study}`")


def _cmd_search_worker(a: argparse.Namespace) -> int:
    _check(a)  # before Optuna, TensorFlow or a runtime is loaded
    if a.role == "train":
        from ..backend import without_onednn_for_training

        without_onednn_for_training()  # as the run that made the study fine-tunes (see backend.py)
    from ..search.context import target_runtime
    from ..search.study import join_study

    runtime = target_runtime(a.target)
    study = join_study(a.study)
    cache = Path(a.cache) if a.cache else None
    if a.role == "measure":
        from ..runtimes.machine import machine_info
        from ..search.worker_measure import measure_worker

        threads = a.threads or os.cpu_count() or 1
        machine = machine_info(threads)["label"]
        count = measure_worker(study, runtime, machine, cache, threads, a.time)
        print(f"recorded {count} latenc{'y' if count == 1 else 'ies'} on {runtime.name}, {machine}")
        return 0
    from ..search.worker_train import train_worker

    count = train_worker(a.study, study, a.target, a.model, a.data, cache, a.time)
    print(f"finished {count} trial(s) of {a.study}")
    return 0
