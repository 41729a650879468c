"""Per-batch progress for fine-tuning, QAT and training when stdout is not a terminal (logs,
CI, notebooks), where Keras prints one line per epoch and a long epoch looks like a hang."""
from __future__ import annotations

import time


def batch_progress(keras, every_seconds: float = 5.0, printer=print):
    """A Keras callback printing 'epoch e/E batch b/B loss L (t s)' at most every `every_seconds`
    and at the end of each epoch."""

    class BatchProgress(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch, self.start = epoch, time.perf_counter()
            self.last = self.start

        def on_train_batch_end(self, batch, logs=None):
            now, steps = time.perf_counter(), self.params.get("steps")
            if now - self.last < every_seconds and (steps is None or batch + 1 < steps):
                return
            self.last = now
            loss = (logs or {}).get("loss")
            printer(f"      epoch {self.epoch + 1}/{self.params.get('epochs')} batch {batch + 1}/{steps or '?'}"
                    + (f" loss {loss:.4f}" if loss is not None else "") + f" ({now - self.start:.0f} s)", flush=True)

    return BatchProgress()
