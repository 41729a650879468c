"""Command line for `edgeseg train`: every default is read from TrainConfig/ModelConfig, never
restated, and --help shows each one."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..config import (ARCH_CHOICES, NORMALIZE_CHOICES, PRESET_CHOICES, STRATEGY_CHOICES, TASK_CHOICES, ModelConfig,
                      TrainConfig)
from .common import data_args, data_config, format_any_scores

TRAIN = TrainConfig()


def _cmd_train(a: argparse.Namespace) -> int:
    from ..outputs import check_output_file
    from ..preflight import check_data_source

    check_data_source(a.data)  # before TensorFlow is imported
    check_output_file(Path(a.out), a.force)
    config = TrainConfig(
        model=ModelConfig(arch=a.arch, preset=a.preset, height=a.height, width=a.width, channels=a.channels,
                          classes=a.classes, base_filters=a.base_filters, depth=a.depth,
                          batchnorm=a.batchnorm, dropout=a.dropout, task=a.task, boundary=a.boundary),
        data=data_config(a, augment=not a.no_augment, balance=a.balance),
        normalize=a.normalize, epochs=a.epochs, batch_size=a.batch_size, learning_rate=a.lr,
        patience=a.patience, seed=a.seed, strategy=a.strategy, max_steps=a.max_steps,
        min_patience_steps=a.min_patience_steps, eval_every=a.eval_every, smooth=a.smooth,
        warmup_fraction=a.warmup)
    from ..training import train

    result = train(config, Path(a.out), force=a.force)
    where = f"best at step {result.best_step} of {result.steps_run} (epoch {result.best_epoch} of {result.epochs_run})"
    if result.written:
        print(f"saved {result.path} ({result.parameters:,} parameters, {where}; {result.stopped_because})")
    else:
        print(f"trained as a worker ({where}); the chief writes the model")
    print("validation " + format_any_scores(result.val_scores))
    return 0


def add_train_parser(sub) -> None:
    t = sub.add_parser("train", help="train a U-Net or deeplab_lite on a directory or synthetic data")
    data_args(t)
    t.add_argument("--arch", choices=ARCH_CHOICES, default=ModelConfig.arch, help="network family")
    t.add_argument("--task", choices=TASK_CHOICES, default=ModelConfig.task,
                   help="instance: foreground + inner-distance head, objects decoded on the device")
    t.add_argument("--boundary", action="store_true", help="instance task: add a boundary output channel")
    t.add_argument("--preset", default=ModelConfig.preset, help=f"one of {', '.join(PRESET_CHOICES)}")
    budget = t.add_argument_group("how long it trains (counted in optimizer steps)")
    budget.add_argument("--epochs", type=int, default=TRAIN.epochs,
                        help="a cap on passes over the training data")
    budget.add_argument("--max-steps", type=int, default=TRAIN.max_steps,
                        help="a cap on optimizer steps; the budget is the smaller of the two caps, and the "
                             "learning rate decays to zero at its end")
    budget.add_argument("--patience", type=int, default=TRAIN.patience,
                        help="early stopping: EPOCHS (converted to optimizer steps) without a better smoothed "
                             "validation score (Dice, or PQ for --task instance), never fewer than "
                             "--min-patience-steps")
    budget.add_argument("--min-patience-steps", type=int, default=TRAIN.min_patience_steps,
                        help="the floor of the patience, in optimizer steps (a few dozen images make 3 steps "
                             "an epoch)")
    budget.add_argument("--eval-every", type=int, default=TRAIN.eval_every,
                        help="optimizer steps between validations (every epoch when an epoch is shorter)")
    budget.add_argument("--smooth", type=int, default=TRAIN.smooth,
                        help="early stopping watches the median of this many latest validation scores")
    budget.add_argument("--lr", type=float, default=TRAIN.learning_rate,
                        help="peak learning rate (Adam), reached after the warm-up")
    budget.add_argument("--warmup", type=float, default=TRAIN.warmup_fraction,
                        help="share of the budget spent warming the learning rate up linearly; then cosine decay")
    t.add_argument("--batch-size", type=int, default=TRAIN.batch_size, help="images per optimizer step")
    t.add_argument("--normalize", choices=NORMALIZE_CHOICES, default=TRAIN.normalize, help="input scaling")
    t.add_argument("--balance", choices=("none", "weight", "oversample"), default=TRAIN.data.balance,
                   help="class balancing: foreground-weighted loss or oversampling images with foreground")
    t.add_argument("--no-augment", action="store_true", help="train on the images as they are (no flips, "
                   "rotations or intensity changes)")
    for name in ("height", "width", "channels", "classes", "base-filters", "depth"):
        t.add_argument(f"--{name}", type=int, default=None, help="default: the preset's")
    t.add_argument("--batchnorm", action=argparse.BooleanOptionalAction, default=None, help="default: the preset's")
    t.add_argument("--dropout", type=float, default=None, help="default: the preset's")
    t.add_argument("--seed", type=int, default=TRAIN.seed, help="seed of the weights, the split and augmentation")
    t.add_argument("--strategy", choices=STRATEGY_CHOICES, default=TRAIN.strategy,
                   help="tf.distribute: mirrored = every local GPU; multiworker = the cluster in TF_CONFIG")
    t.add_argument("--out", required=True, help="model.keras to write")
    t.add_argument("--force", action="store_true", help="overwrite --out")
    t.set_defaults(func=_cmd_train)
