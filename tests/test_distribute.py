"""Training on tf.distribute: two real worker processes on 127.0.0.1 with TF_CONFIG
(MultiWorkerMirroredStrategy), and MirroredStrategy on this machine's devices."""
import json
import os
import socket
import subprocess
import sys

import pytest

from conftest import ROOT, last_error_line, run_cli

TINY = ["train", "--preset", "tiny", "--epochs", "2", "--synthetic-train", "32", "--synthetic-val", "8",
        "--batch-size", "8"]


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_train_together_and_the_chief_writes_a_loadable_model(tmp_path):
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
                   TF_CONFIG=json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}))
        out = tmp_path / f"w{index}" / "model.keras"
        procs.append(subprocess.Popen([sys.executable, "-m", "edgeseg", *TINY, "--strategy", "multiworker",
                                       "--out", str(out)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    results = [p.communicate(timeout=420) for p in procs]
    for proc, (stdout, stderr) in zip(procs, results):
        assert proc.returncode == 0, stdout[-2000:] + stderr[-3000:]
        assert "2 replica(s) in sync, global batch 8" in stdout  # one replica per worker, batch 4 each
    assert "saved" in results[0][0] and "the chief writes the model" in results[1][0]
    assert not (tmp_path / "w1" / "model.keras").exists()

    from edgeseg.models.io import load_model

    model, spec = load_model(tmp_path / "w0" / "model.keras")
    assert (spec.height, spec.width) == (32, 32) and model.count_params() > 0


def test_sharded_dataset_keeps_the_global_batch(tmp_path):
    """With the default strategy the pipeline is one shard; a step still takes exactly the
    global batch, and a batch size that does not split over the replicas is refused."""
    from edgeseg.backend import tf
    from edgeseg.config import DataConfig, PreprocessSpec
    from edgeseg.data.dataset import load_splits
    from edgeseg.training.distribute import distributed_dataset

    train, _ = load_splits(DataConfig(synthetic_train=20, synthetic_val=1), PreprocessSpec(32, 32))
    strategy = tf().distribute.get_strategy()
    dataset, steps = distributed_dataset(strategy, train, 8, augment=True, seed=0)
    assert steps == 2
    images, labels = next(iter(dataset))
    assert tuple(images.shape) == (8, 32, 32, 1) and tuple(labels.shape) == (8, 32, 32, 1)


def test_multiworker_without_tf_config_is_a_clear_error(tmp_path):
    env_backup = os.environ.pop("TF_CONFIG", None)
    try:
        result = run_cli(*TINY, "--strategy", "multiworker", "--out", str(tmp_path / "m.keras"))
    finally:
        if env_backup is not None:
            os.environ["TF_CONFIG"] = env_backup
    assert result.returncode == 2 and "needs TF_CONFIG" in last_error_line(result)
    assert not (tmp_path / "m.keras").exists()


@pytest.mark.slow
def test_mirrored_strategy_trains_on_the_local_devices(tmp_path):
    out = tmp_path / "m.keras"
    result = run_cli(*TINY, "--strategy", "mirrored", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "replica(s) in sync, global batch 8" in result.stdout and out.is_file()
