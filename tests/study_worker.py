"""A search worker with a scripted candidate maker and latency (no training, no timing), run as
its own process by tests/test_study.py: `python study_worker.py LOCATION LOG [--slow | --abort]`
(--abort: dies natively, as a `double free` in TensorFlow's kernels does, on its first trial)."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeseg.search.study import Outcome, join_study, work  # noqa: E402


def scripted(ratio: float) -> tuple[float, float, int]:
    """(latency ms, int8 Dice, bytes): faster and smaller as the ratio grows, Dice falling off
    past 0.75; widths that suit SIMD make 0.6875 faster than 0.75 (so the front is not a line)."""
    latency = 10.0 * (1.0 - ratio) + (0.0 if ratio != 0.6875 else -0.9)
    dice = 0.95 - 0.02 * ratio - (0.3 * (ratio - 0.75) if ratio > 0.75 else 0.0)
    return round(latency, 4), round(dice, 4), int(100_000 * (1.0 - ratio) ** 2)


def main(location: str, log: str, slow: bool, abort: bool = False) -> None:
    study = join_study(location, heartbeat_s=1, grace_s=2)
    if abort:  # the worst case, seen under load: Optuna's heartbeat thread has not beaten yet when it dies
        import optuna.study._optimize
        from optuna.storages._heartbeat import NullHeartbeatThread

        optuna.study._optimize.get_heartbeat_thread = lambda *_: NullHeartbeatThread()

    def evaluate(ratio: float, trial) -> Outcome:
        with open(log, "a") as f:
            f.write(f"start {trial.number} {ratio} {os.getpid()}\n")
        if abort:
            os.abort()
        time.sleep(120 if slow else 0.3)
        latency, dice, size = scripted(ratio)
        with open(log, "a") as f:
            f.write(f"done {trial.number} {ratio} {os.getpid()}\n")
        return Outcome(latency, dice, size, "scripted", "test-machine", {"pid": os.getpid()})

    work(study, evaluate, seconds=90, wait_for_others=True, poll_s=0.5, log=lambda _: None)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], "--slow" in sys.argv, "--abort" in sys.argv)
