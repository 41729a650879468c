"""Reproduces issue 24's native abort: training a Conv2D with a 1x1 kernel and stride 2 under
TensorFlow 2.21's oneDNN kernels corrupts the heap (`double free or corruption`, `malloc():
corrupted top size` or SIGSEGV, within 40 steps at 128x128), and does not with
TF_ENABLE_ONEDNN_OPTS=0. Each case runs in its own process, since the crash takes the process down.

Usage: PYTHONPATH=. .venv/bin/python benchmarks/onednn_abort.py [--steps-epochs 5]
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASE = """
import sys, numpy as np
from edgeseg.backend import keras
K = keras(); L = K.layers
k, s, epochs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
inp = L.Input((128, 128, 1))
x = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
x = L.Conv2D(4, k, strides=s, padding="same")(x)
model = K.Model(inp, L.Dense(1, activation="sigmoid")(L.GlobalAveragePooling2D()(x)))
model.compile(K.optimizers.Adam(3e-3), "binary_crossentropy")
images = np.random.default_rng(0).random((64, 128, 128, 1), np.float32)
model.fit(images, (images.mean(axis=(1, 2, 3)) > 0.5).astype(np.float32), batch_size=8, epochs=epochs, verbose=0)
"""


def outcome(code: int) -> str:
    if code < 0:
        return f"died: {signal.Signals(-code).name}"
    return "ok" if code == 0 else f"exit {code}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5, help="8 steps each")
    args = parser.parse_args()
    for onednn in ("1", "0"):
        for kernel, stride in ((1, 2), (3, 2), (1, 1)):
            env = dict(os.environ, PYTHONPATH=str(ROOT), TF_ENABLE_ONEDNN_OPTS=onednn)
            done = subprocess.run([sys.executable, "-c", CASE, str(kernel), str(stride), str(args.epochs)], env=env,
                                  capture_output=True, timeout=600)
            print(f"TF_ENABLE_ONEDNN_OPTS={onednn}  Conv2D kernel {kernel}x{kernel} stride {stride}: "
                  f"{outcome(done.returncode)}", flush=True)


if __name__ == "__main__":
    main()
