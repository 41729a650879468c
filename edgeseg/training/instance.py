"""Training an instance model (task 'instance'): the same loop as train.py, with targets made
from the augmented label maps, PQ as the validation score, and the decoding settings tuned on
the validation data at the end and stored in the saved model's spec."""
from __future__ import annotations

import dataclasses
from functools import partial
from pathlib import Path

import numpy as np

from ..backend import keras, set_seed
from ..config import TrainConfig
from ..data.instance_data import load_instance_splits
from ..data.instance_targets import instance_targets
from ..instances.decode import DecodeSettings
from ..errors import UsageError
from ..scoring.predictors import keras_predictor
from ..instances.scoring import evaluate_instances, predict_all, score_outputs, tune_decoding
from .losses_instance import instance_loss
from .loop import _validation_callback, batch_sequence, fit, result_of
from .schedule import plan_steps
from ..models.io import save_model
from ..models.registry import build_model, spec_for


def target_batch(labels: np.ndarray, boundary: bool) -> np.ndarray:
    return np.stack([instance_targets(lab, boundary) for lab in labels])


def check_instance_config(config: TrainConfig) -> None:
    """What instance training does not support, refused before any work."""
    if config.strategy != "none":
        raise UsageError("--task instance trains on one device; leave --strategy out")
    if config.data.balance != "none":
        raise UsageError("--balance is for semantic models; the instance loss weighs foreground itself")


def train_instance(config: TrainConfig, out: Path):
    check_instance_config(config)
    spec = spec_for(config.model, config.normalize)
    train_data, val_data = load_instance_splits(config.data, spec, boundary=config.model.boundary)
    set_seed(config.seed)
    model = build_model(config.model)
    model.compile(optimizer=keras().optimizers.Adam(config.learning_rate), loss=instance_loss())
    batches = batch_sequence(train_data, config.batch_size, config.data.augment, config.seed,
                             targets=partial(target_batch, boundary=config.model.boundary))
    settings = DecodeSettings.from_dict(spec.decode)
    plan = plan_steps(config, len(batches))
    if config.verbose:
        print(plan.describe(), flush=True)
    validate = _validation_callback(
        val_data, config.batch_size, spec, out, plan, config.verbose,
        evaluate=lambda predict: evaluate_instances(predict, val_data, settings, config.batch_size),
        headline=("pq", "f1"))
    history = fit(model, batches, plan.epochs, config.verbose, [validate])
    outputs, truths = predict_all(keras_predictor(model, config.batch_size), val_data, config.batch_size)
    tuned = tune_decoding(outputs, truths, settings)
    spec = dataclasses.replace(spec, decode=tuned.settings.to_dict())
    save_model(model, spec, out, force=True)
    if config.verbose:
        print(f"decoding tuned on {len(truths)} validation images: foreground {tuned.settings.foreground}, "
              f"seed {tuned.settings.seed}, smoothing {tuned.settings.smooth} "
              f"(PQ {score_outputs(outputs, truths, settings)['pq']:.4f} "
              f"at the defaults, {tuned.scores['pq']:.4f} tuned)", flush=True)
    return result_of(validate, out, spec, tuned.scores, model.count_params(), history, plan)
