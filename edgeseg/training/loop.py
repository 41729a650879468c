"""The pieces every training run shares: batches from a SegmentationData, fit with progress,
validation with the numpy metrics every epoch (the best epoch kept), and the result record."""
from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..backend import keras
from ..config import PreprocessSpec
from ..data.dataset import SegmentationData
from ..errors import DataError
from ..scoring.predictors import evaluate_predictor, keras_predictor
from ..models.io import save_model


SCORE_NAMES = {"dice": "Dice", "iou": "IoU", "pq": "PQ", "f1": "F1@0.5"}


def auto_verbose(verbose: int) -> int:
    """Keras' live progress bar on a terminal, one line per epoch in logs and CI."""
    return verbose if verbose != 1 or sys.stdout.isatty() else 2


def batch_sequence(data: SegmentationData, batch_size: int, augment: bool, seed: int,
                   oversample: bool = False, targets=None):
    """A tf_keras Sequence that decodes one batch at a time (bounded memory). `targets` turns a
    batch of (augmented) label maps into training targets; default: the labels as one channel."""

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
            return images, (targets(labels) if targets else labels[..., None].astype(np.float32))

        def on_epoch_end(self):
            self.epoch += 1
            self.order = self._new_order()

    return _Batches()


def fit(model, batches, epochs: int, verbose: int, callbacks=(), **kwargs):
    """model.fit, except that a DataError raised while decoding a batch reaches the user as
    the same one-line DataError, not as the TensorFlow error that wraps it."""
    callbacks = list(callbacks)
    if auto_verbose(verbose) == 2:  # no terminal: Keras prints per epoch only, so add per-batch progress
        from ..progress import batch_progress

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
                         patience: int, verbose: int, local=None, writes: bool = True, evaluate=None,
                         headline: tuple[str, str] = ("dice", "iou"), trained_on: dict | None = None):
    """`local`: a model built outside any distribution strategy that receives the trained
    weights each epoch, so validation and saving need no collective ops; only the worker that
    `writes` saves. `evaluate(predictor) -> scores` replaces Dice scoring; the first `headline`
    score picks the best epoch."""
    evaluate = evaluate or (lambda predict: evaluate_predictor(predict, val, batch_size))
    first, second = headline

    class _Validate(keras().callbacks.Callback):
        """Adds val_dice/val_iou to the logs, saves the best epoch, stops early."""

        def __init__(self):
            super().__init__()
            self.best, self.best_epoch, self.best_weights, self.wait = -1.0, -1, None, 0

        def on_epoch_end(self, epoch, logs=None):
            scored = self.model if local is None else local
            if local is not None:
                local.set_weights(self.model.get_weights())
            scores = evaluate(keras_predictor(scored, batch_size))
            logs = logs if logs is not None else {}
            logs.update({f"val_{first}": scores[first], f"val_{second}": scores[second]})
            improved = scores[first] > self.best
            if improved:
                self.best, self.best_epoch, self.wait = scores[first], epoch, 0
                self.best_weights = self.model.get_weights()
                if writes:
                    save_model(scored, spec, out, force=True, trained_on=trained_on)
            else:
                self.wait += 1
            if verbose:
                mark = ("  (best, saved)" if writes else "  (best)") if improved else ""
                print(f"epoch {epoch + 1}: val {SCORE_NAMES[first]} {scores[first]:.4f}  "
                      f"val {SCORE_NAMES[second]} {scores[second]:.4f}{mark}", flush=True)
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


