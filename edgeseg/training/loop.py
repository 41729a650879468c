"""The pieces every training run shares: batches from a SegmentationData, fit with progress,
validation with the numpy metrics every few optimizer steps (the best weights kept; lengths in
training/schedule.py), and the result record."""
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
from .schedule import SmoothedStop, StepPlan


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
                         plan: StepPlan, verbose: int, local=None, writes: bool = True, evaluate=None,
                         headline: tuple[str, str] = ("dice", "iou"), trained_on: dict | None = None):
    """Sets the learning rate before every optimizer step (plan: warm-up, cosine decay), validates
    every `plan.eval_every` steps, keeps the best weights (saved as they come), and stops once the
    smoothed score has not improved for `plan.patience_steps` steps or the budget is spent.
    `local`: a model built outside any distribution strategy that receives the trained weights
    before validation, so validation and saving need no collective ops; only the worker that
    `writes` saves. `evaluate(predictor) -> scores` replaces Dice scoring; the first `headline`
    score picks the best weights and drives the stop."""
    evaluate = evaluate or (lambda predict: evaluate_predictor(predict, val, batch_size))
    first, second = headline

    class _Validate(keras().callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.best, self.best_epoch, self.best_step, self.best_weights = -1.0, -1, 0, None
            self.step, self.epoch, self.stop = 0, 0, SmoothedStop(plan.patience_steps, plan.smooth)
            self.curve: list[tuple[int, float]] = []
            self.stopped_because = "budget"

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            keras().backend.set_value(self.model.optimizer.learning_rate, plan.learning_rate(self.step))

        def on_train_batch_end(self, batch, logs=None):
            self.step += 1
            at_epoch_end = (batch + 1) % plan.steps_per_epoch == 0
            if self.step % plan.eval_every == 0 or at_epoch_end or self.step >= plan.total_steps:
                self._validate(logs)
            if self.step >= plan.total_steps:
                self.model.stop_training = True

        def _validate(self, logs):
            if self.curve and self.curve[-1][0] == self.step:
                return
            scored = self.model if local is None else local
            if local is not None:
                local.set_weights(self.model.get_weights())
            scores = evaluate(keras_predictor(scored, batch_size))
            if logs is not None:
                logs.update({f"val_{first}": scores[first], f"val_{second}": scores[second]})
            self.curve.append((self.step, float(scores[first])))
            smoothed = self.stop.update(self.step, scores[first])
            improved = scores[first] > self.best
            if improved:
                self.best, self.best_epoch, self.best_step = scores[first], self.epoch, self.step
                self.best_weights = self.model.get_weights()
                if writes:
                    save_model(scored, spec, out, force=True, trained_on=trained_on)
            if verbose:
                mark = ("  (best, saved)" if writes else "  (best)") if improved else ""
                print(f"step {self.step} (epoch {self.epoch + 1}): val {SCORE_NAMES[first]} {scores[first]:.4f} "
                      f"(median {smoothed:.4f})  val {SCORE_NAMES[second]} {scores[second]:.4f}  "
                      f"lr {plan.learning_rate(self.step):.2e}{mark}", flush=True)
            if self.stop.should_stop(self.step) and self.step < plan.total_steps:
                self.stopped_because = (f"no better median {SCORE_NAMES[first]} for {plan.patience_steps} steps")
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            if self.best_weights is not None:
                self.model.set_weights(self.best_weights)
            if verbose:
                print(f"stopped after {self.step} steps ({self.stopped_because}); best {SCORE_NAMES[first]} "
                      f"{self.best:.4f} at step {self.best_step}", flush=True)

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
    steps_run: int = 0
    best_step: int = 0
    stopped_because: str = ""
    plan: str = ""  # StepPlan.describe()


def result_of(validate, out: Path, spec: PreprocessSpec, scores: dict, parameters: int, history,
              plan: StepPlan, written: bool = True) -> TrainResult:
    """The TrainResult of a run watched by `validate` (a _validation_callback)."""
    return TrainResult(out, spec, validate.best_epoch + 1, len(history.epoch), scores, parameters, written,
                       validate.step, validate.best_step, validate.stopped_because, plan.describe())


