"""Per-batch progress for fine-tuning, QAT and training when stdout is not a terminal (logs,
CI, notebooks), where Keras prints one line per epoch and a long epoch looks like a hang."""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager


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


class _LineTracker:
    """stdout, remembering whether its last write left a line open (a live progress bar
    redraws one line with '\\r' and ends it only when the epoch ends)."""

    def __init__(self, stream):
        self._stream, self.line_open = stream, False

    def write(self, text):
        if text:
            self.line_open = not text.endswith("\n")
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextmanager
def tracked_stdout():
    """While a command runs, sys.stdout remembers whether a line is open (see end_open_line)."""
    tracker = _LineTracker(sys.stdout)
    sys.stdout = tracker
    try:
        yield tracker
    finally:
        if sys.stdout is tracker:
            sys.stdout = tracker._stream


def end_open_line() -> None:
    """Ends a progress bar's open line, so the one-line error that follows starts a line of
    its own instead of being glued to the bar."""
    out = sys.stdout
    if getattr(out, "line_open", False):
        out.write("\n")
    out.flush()
