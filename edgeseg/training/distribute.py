"""Distributed training on tf.distribute: MirroredStrategy (every local GPU) and
MultiWorkerMirroredStrategy (workers described by TF_CONFIG), fed by a tf.data pipeline that
is sharded per worker and batched so that the global batch size stays what was asked."""
from __future__ import annotations

import itertools
import json
import os

import numpy as np

from ..backend import tf
from ..data.dataset import SegmentationData
from ..config import STRATEGY_CHOICES
from ..errors import UsageError


def make_strategy(name: str):
    """Must run before any other TensorFlow op: collective ops are configured at start-up."""
    tf_ = tf()
    if name == "mirrored":
        return tf_.distribute.MirroredStrategy()
    if name == "multiworker":
        raw = os.environ.get("TF_CONFIG")
        if not raw:
            raise UsageError("--strategy multiworker needs TF_CONFIG describing the cluster and this "
                             "worker's task (see the README)")
        try:
            task = json.loads(raw)["task"]
            if task["type"] not in ("chief", "worker"):
                raise KeyError("type")
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise UsageError(f"TF_CONFIG is not a valid cluster description ({exc})") from None
        return tf_.distribute.MultiWorkerMirroredStrategy()
    raise UsageError(f"unknown --strategy {name!r}; choose one of {', '.join(STRATEGY_CHOICES)}")


def is_chief(strategy) -> bool:
    """The worker that writes the model: the 'chief' task, else worker 0."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().as_dict()


def distributed_dataset(strategy, data: SegmentationData, global_batch: int, augment: bool, seed: int):
    """(dataset, steps per epoch). Each worker reads only its shard of the sample indices and
    batches per replica, so one step consumes exactly `global_batch` images across the cluster."""
    tf_ = tf()
    replicas = strategy.num_replicas_in_sync
    if global_batch % replicas:
        raise UsageError(f"--batch-size {global_batch} must be a multiple of the {replicas} replicas "
                         "training in sync, so that the global batch stays as asked")
    spec = data.spec
    draws = itertools.count()

    def decode(index):
        rng = np.random.default_rng([seed, int(index), next(draws)]) if augment else None
        image, labels = data.sample(int(index), rng)
        return image.astype(np.float32), labels[..., None].astype(np.float32)

    def dataset_fn(context):
        per_replica = context.get_per_replica_batch_size(global_batch)
        indices = tf_.data.Dataset.range(len(data)).shard(context.num_input_pipelines, context.input_pipeline_id)
        indices = indices.shuffle(len(data), seed=seed, reshuffle_each_iteration=True).repeat()

        def load(index):
            image, labels = tf_.numpy_function(decode, [index], (tf_.float32, tf_.float32))
            image.set_shape((spec.height, spec.width, spec.channels))
            labels.set_shape((spec.height, spec.width, 1))
            return image, labels

        return indices.map(load).batch(per_replica, drop_remainder=True).prefetch(2)

    steps = max(1, len(data) // global_batch)
    return strategy.distribute_datasets_from_function(dataset_fn), steps
