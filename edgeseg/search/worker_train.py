"""`edgeseg search-worker --role train`: join a study from another process or machine and
fine-tune, quantize, verify and time queued candidates, exactly as the `compress --prune auto`
run that made the study does.

The worker rebuilds that run from what the study records (the model and data paths, the
config) or from --model/--data where the paths differ on this machine; the study refuses it
unless the model file, data, settings and seed are the same (study.open_study compares them),
so a worker can never add a candidate made from something else."""
from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Callable

from ..config import CompressConfig, DataConfig
from ..errors import UsageError
from .context import SearchInputs, int8_file, target_runtime
from .study import IDENTITY, RUN, open_study, work
from .trial import data_digest, evaluator, identity, study_proposer


def _config(run: dict, target: str) -> CompressConfig:
    raw = dict(run["config"])
    raw["data"] = DataConfig(**raw["data"]) if raw.get("data") else None
    if raw.get("unlabeled"):
        raise UsageError("search-worker --role train does not support --unlabeled images yet; run "
                         "`edgeseg compress ... --study` on that machine instead")
    return CompressConfig(**{**raw, "target": target, "verbose": 0})


def _inputs(model_path: Path, data: DataConfig, config: CompressConfig, log) -> SearchInputs:
    """The candidates' inputs, built as compress builds them (same splits, calibration, targets)."""
    from ..backend import set_seed
    from ..data.dataset import calibration_images, load_splits
    from ..scoring.predictors import keras_predictor
    from ..scoring.task import task_for
    from ..models.io import load_model
    from ..prune.tuning import distill_kwargs, recovery_target

    set_seed(config.seed)
    # as compress loads it: a Keras 3 file stays Keras 3, so the candidates are made the same way
    model, spec = load_model(model_path, config.normalize, config.unsafe, config.custom_objects, keep_keras3=True)
    train, val = load_splits(data, spec)
    calibration = calibration_images(train, config.calibration_samples, config.batch_size)
    task = task_for(spec)
    baseline = task.evaluate(keras_predictor(model, config.batch_size), val, config.batch_size)
    budget = task.budget(baseline, config, None, True)  # as compress's run judged its candidates
    return SearchInputs(model, train, val, config, spec.to_dict(), calibration, budget,
                        recovery_target(budget.baseline, budget.max_drop), distill_kwargs(config, model, None), log)


def train_worker(location: str, study, target: str, model: Path | None, data: str | None, cache: Path | None,
                 seconds: float, log: Callable[[str], None] = print) -> int:
    """Runs queued trials until none is left or `seconds` pass; returns how many it finished."""
    from ..artifacts.files import sha256

    run, held = study.user_attrs.get(RUN), study.user_attrs.get(IDENTITY)
    if not run or not held:
        raise UsageError(f"--study {location}: the study records no compress run to rebuild")
    model_path = Path(model or run["model"])
    if not model_path.is_file():
        raise UsageError(f"model {model_path} is not here: give --model PATH (the same file)")
    model_sha256 = sha256(model_path)
    if model_sha256 != held["model_sha256"]:
        raise UsageError(f"{model_path} is not the model this study searches (sha256 differs)")
    config = _config(run, target)
    data_config = DataConfig(**run["data"]) if run.get("data") else config.data
    if data:
        data_config = dataclasses.replace(data_config, source=data)
    runtime = target_runtime(target)
    cache = cache or Path(held["cache"])
    with tempfile.TemporaryDirectory(prefix="edgeseg-search-worker-") as scratch:
        ctx = _inputs(model_path, data_config, config, log)
        data = data_digest(ctx)
        open_study(location, identity(ctx, model_sha256, data, cache), [])  # refuses other data or settings
        plain = int8_file(ctx.model, ctx, Path(scratch) / "plain_int8.tflite")
        threads = os.cpu_count() or 1
        evaluate = evaluator(ctx, model_sha256, data, cache, runtime, threads, plain, Path(scratch))
        return work(study, evaluate, seconds, log=log, proposer=study_proposer(config.search_trials, evaluate))


__all__ = ["train_worker"]
