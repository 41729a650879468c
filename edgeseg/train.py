"""Training: a tf_keras model fed batch by batch from a SegmentationData, validated with the
numpy metrics every epoch; the best epoch is kept on disk and restored at the end."""
from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .backend import keras, set_seed
from .config import PreprocessSpec, TrainConfig
from .data.dataset import SegmentationData, load_splits
from .errors import DataError, OutputExistsError, UsageError
from .evaluate import evaluate_predictor, keras_predictor
from .losses import segmentation_loss
from .data.record import data_record
from .models.io import save_model
from .models.registry import build_model, spec_for


def auto_verbose(verbose: int) -> int:
    """Keras' live progress bar on a terminal, one line per epoch in logs and CI."""
    return verbose if verbose != 1 or sys.stdout.isatty() else 2


def batch_sequence(data: SegmentationData, batch_size: int, augment: bool, seed: int,
                   oversample: bool = False):
    """A tf_keras Sequence that decodes one batch at a time (bounded memory)."""

    class _Batches(keras().utils.Sequence):
        def __init__(self):
            super().__init__()
            self.epoch = 0
            self.rng = np.random.default_rng(seed)
            weights = None
            if oversample:
                has_fg = data.foreground_flags().astype(np.float64)
                if 0 < has_fg.sum() < len(has_fg):
                    weights = np.where(has_fg > 0, 1.0 / has_fg.sum(), 1.0 / (len(has_fg) - has_fg.sum()))
                    weights /= weights.sum()
            self.weights = weights
            self.order = self._new_order()

        def _new_order(self):
            if self.weights is None:
                return self.rng.permutation(len(data))
            return self.rng.choice(len(data), size=len(data), p=self.weights)

        def __len__(self):
            return math.ceil(len(data) / batch_size)

        def __getitem__(self, i):
            idx = self.order[i * batch_size:(i + 1) * batch_size]
            rng = np.random.default_rng([seed, self.epoch, i]) if augment else None
            images, labels = data.batch(idx, rng)
            return images, labels[..., None].astype(np.float32)

        def on_epoch_end(self):
            self.epoch += 1
            self.order = self._new_order()

    return _Batches()


def fit(model, batches, epochs: int, verbose: int, callbacks=(), **kwargs):
    """model.fit, except that a DataError raised while decoding a batch reaches the user as
    the same one-line DataError, not as the TensorFlow error that wraps it."""
    callbacks = list(callbacks)
    if auto_verbose(verbose) == 2:  # no terminal: Keras prints per epoch only, so add per-batch progress
        from .progress import batch_progress

        callbacks.append(batch_progress(keras()))
    try:
        return model.fit(batches, epochs=epochs, callbacks=callbacks, verbose=auto_verbose(verbose), **kwargs)
    except DataError:
        raise
    except Exception as exc:
        found = re.search(r"DataError: ([^\n]+)", str(exc))
        if found:
            raise DataError(found.group(1).strip()) from None
        raise


def foreground_weight(data: SegmentationData, sample: int = 64) -> float:
    """Background/foreground pixel ratio over a sample of masks, for the weighted loss."""
    fg = total = 0
    for i in range(min(sample, len(data))):
        labels = data.unit_sample(i)[1]
        fg += int((labels > 0).sum())
        total += labels.size
    return float(np.clip((total - fg) / max(fg, 1), 1.0, 100.0))


def _validation_callback(val: SegmentationData, batch_size: int, spec: PreprocessSpec, out: Path,
                         patience: int, verbose: int, local=None, writes: bool = True, trained_on: dict | None = None):
    """`local`: a model built outside any distribution strategy that receives the trained
    weights each epoch, so validation and saving need no collective ops; only the worker that
    `writes` saves."""

    class _Validate(keras().callbacks.Callback):
        """Adds val_dice/val_iou to the logs, saves the best epoch, stops early."""

        def __init__(self):
            super().__init__()
            self.best, self.best_epoch, self.best_weights, self.wait = -1.0, -1, None, 0

        def on_epoch_end(self, epoch, logs=None):
            scored = self.model if local is None else local
            if local is not None:
                local.set_weights(self.model.get_weights())
            scores = evaluate_predictor(keras_predictor(scored, batch_size), val, batch_size)
            logs = logs if logs is not None else {}
            logs.update(val_dice=scores["dice"], val_iou=scores["iou"])
            improved = scores["dice"] > self.best
            if improved:
                self.best, self.best_epoch, self.wait = scores["dice"], epoch, 0
                self.best_weights = self.model.get_weights()
                if writes:
                    save_model(scored, spec, out, force=True, trained_on=trained_on)
            else:
                self.wait += 1
            if verbose:
                mark = ("  (best, saved)" if writes else "  (best)") if improved else ""
                print(f"epoch {epoch + 1}: val Dice {scores['dice']:.4f}  val IoU {scores['iou']:.4f}{mark}",
                      flush=True)
            if self.wait >= patience:
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            if self.best_weights is not None:
                self.model.set_weights(self.best_weights)

    return _Validate()


@dataclass(frozen=True)
class TrainResult:
    path: Path
    spec: PreprocessSpec
    best_epoch: int
    epochs_run: int
    val_scores: dict
    parameters: int
    written: bool = True  # False on the workers of a cluster that are not the chief


def train(config: TrainConfig, out: Path, force: bool = False) -> TrainResult:
    out = Path(out)
    if out.suffix not in (".keras", ".h5"):
        raise UsageError(f"--out must end in .keras or .h5: {out}")
    if out.exists() and not force:
        raise OutputExistsError(f"{out} exists; pass --force to overwrite it")
    if config.strategy != "none":
        return _train_distributed(config, out)
    spec = spec_for(config.model, config.normalize)
    train_data, val_data = load_splits(config.data, spec)
    set_seed(config.seed)
    model = build_model(config.model)
    weight = foreground_weight(train_data) if config.data.balance == "weight" else 1.0
    model.compile(optimizer=keras().optimizers.Adam(config.learning_rate),
                  loss=segmentation_loss(spec.classes, weight))
    batches = batch_sequence(train_data, config.batch_size, config.data.augment, config.seed,
                             oversample=config.data.balance == "oversample")
    validate = _validation_callback(val_data, config.batch_size, spec, out, config.patience, config.verbose,
                                    trained_on=data_record(config.data))
    history = fit(model, batches, config.epochs, config.verbose, [validate])
    scores = evaluate_predictor(keras_predictor(model, config.batch_size), val_data, config.batch_size)
    return TrainResult(out, spec, validate.best_epoch + 1, len(history.epoch), scores, model.count_params())


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
    validate = _validation_callback(val_data, config.batch_size, spec, out, config.patience, config.verbose,
                                    local=local, writes=chief, trained_on=data_record(config.data))
    history = fit(model, dataset, config.epochs, config.verbose, [validate], steps_per_epoch=steps)
    local.set_weights(model.get_weights())
    scores = evaluate_predictor(keras_predictor(local, config.batch_size), val_data, config.batch_size)
    return TrainResult(out, spec, validate.best_epoch + 1, len(history.epoch), scores, model.count_params(), chief)

