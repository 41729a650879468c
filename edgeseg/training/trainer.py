"""Training: a tf_keras model fed batch by batch from a SegmentationData, validated with the
numpy metrics every few optimizer steps (training/schedule.py); the best epoch is kept on disk and restored at the end. Instance
models train in training/instance.py with the same loop pieces (training/loop.py)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

from ..backend import keras, set_seed
from ..config import TrainConfig
from ..data.dataset import load_splits
from ..data.record import data_record
from ..errors import OutputExistsError, UsageError
from ..scoring.predictors import evaluate_predictor, keras_predictor
from .losses import segmentation_loss
from ..models.registry import build_model, spec_for
from ..safety import check_writable, claim_output, refuse_overlap
from ..staging import staged_model


from .loop import TrainResult, _validation_callback, batch_sequence, fit, foreground_weight, result_of
from .schedule import plan_steps


def train(config: TrainConfig, out: Path, force: bool = False) -> TrainResult:
    out = Path(out)
    if out.suffix not in (".keras", ".h5"):
        raise UsageError(f"--out must end in .keras or .h5: {out}")
    if out.exists() and not force:
        raise OutputExistsError(f"{out} exists; pass --force to overwrite it")
    refuse_overlap(out, [config.data.source])
    if out.is_dir():
        raise OutputExistsError(f"{out} is a directory")
    check_writable(out)
    check, train_one = TRAINERS[config.model.task]
    check(config)
    if config.strategy != "none":  # every worker runs this; only the chief writes, so no claim here
        with staged_model(out, force) as staging:
            return replace(_train_distributed(config, staging), path=out)
    with claim_output(out), staged_model(out, force) as staging:
        return replace(train_one(config, staging), path=out)


def _check_instance(config: TrainConfig) -> None:
    from .instance import check_instance_config

    check_instance_config(config)


def _train_instance(config: TrainConfig, out: Path) -> TrainResult:
    from .instance import train_instance

    return train_instance(config, out)


def _train_single(config: TrainConfig, out: Path) -> TrainResult:
    spec = spec_for(config.model, config.normalize)
    train_data, val_data = load_splits(config.data, spec)
    set_seed(config.seed)
    model = build_model(config.model)
    weight = foreground_weight(train_data) if config.data.balance == "weight" else 1.0
    model.compile(optimizer=keras().optimizers.Adam(config.learning_rate),
                  loss=segmentation_loss(spec.classes, weight))
    batches = batch_sequence(train_data, config.batch_size, config.data.augment, config.seed,
                             oversample=config.data.balance == "oversample")
    plan = plan_steps(config, len(batches))
    announce(plan, config.verbose)
    validate = _validation_callback(val_data, config.batch_size, spec, out, plan, config.verbose,
                                    trained_on=data_record(config.data))
    history = fit(model, batches, plan.epochs, config.verbose, [validate])
    scores = evaluate_predictor(keras_predictor(model, config.batch_size), val_data, config.batch_size)
    return result_of(validate, out, spec, scores, model.count_params(), history, plan)


# model task -> (its config check, its single-process training run)
TRAINERS: dict[str, tuple[Callable[[TrainConfig], None], Callable[[TrainConfig, Path], TrainResult]]] = {
    "semantic": (lambda config: None, _train_single),
    "instance": (_check_instance, _train_instance),
}


def _train_distributed(config: TrainConfig, out: Path) -> TrainResult:
    from .distribute import distributed_dataset, is_chief, make_strategy

    strategy = make_strategy(config.strategy)  # before any other TF op
    spec = spec_for(config.model, config.normalize)
    train_data, val_data = load_splits(config.data, spec)
    set_seed(config.seed)
    weight = foreground_weight(train_data) if config.data.balance == "weight" else 1.0
    with strategy.scope():
        model = build_model(config.model)
        model.compile(optimizer=keras().optimizers.Adam(config.learning_rate),
                      loss=segmentation_loss(spec.classes, weight))
    local = build_model(config.model)
    chief = is_chief(strategy)
    if config.verbose:
        print(f"{config.strategy}: {strategy.num_replicas_in_sync} replica(s) in sync, global batch "
              f"{config.batch_size}; this process {'writes' if chief else 'does not write'} the model", flush=True)
    dataset, steps = distributed_dataset(strategy, train_data, config.batch_size, config.data.augment, config.seed)
    plan = plan_steps(config, steps)
    announce(plan, config.verbose)
    validate = _validation_callback(val_data, config.batch_size, spec, out, plan, config.verbose,
                                    local=local, writes=chief, trained_on=data_record(config.data))
    history = fit(model, dataset, plan.epochs, config.verbose, [validate], steps_per_epoch=steps)
    local.set_weights(model.get_weights())
    scores = evaluate_predictor(keras_predictor(local, config.batch_size), val_data, config.batch_size)
    return result_of(validate, out, spec, scores, model.count_params(), history, plan, chief)


def announce(plan, verbose: int) -> None:
    if verbose:
        print(plan.describe(), flush=True)

