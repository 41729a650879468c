"""Command line: argparse subcommands -> typed config -> API call.

Exit codes: 0 ok, 1 unexpected failure, 2 bad input, 3 no deployable int8 artifact, 130 interrupted.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import __version__, quiet
from ..config import (ARCH_CHOICES, NORMALIZE_CHOICES, PRESET_CHOICES, STRATEGY_CHOICES, TASK_CHOICES, ModelConfig,
                      TrainConfig)
from ..errors import EdgesegError
from .bench import add_bench_parsers
from .common import data_args, data_config, format_any_scores, model_args
from .compress import add_compress_parser
from .data import add_data_parsers
from .demo import add_demo_parser
from .deploy import add_deploy_parsers
from .evaluate import add_eval_parser
from .search_worker import add_search_worker_parser
from .help import accept_verbose_anywhere, describe_commands, missing_dependency
from .support import OneLineParser, interrupted_exit, join_dash_values, sigterm_as_interrupt

TRAIN = TrainConfig()  # every train default is read from the config, never restated


def _cmd_train(a: argparse.Namespace) -> int:
    from ..outputs import check_output_file
    from ..preflight import check_data_source

    check_data_source(a.data)  # before TensorFlow is imported
    check_output_file(Path(a.out), a.force)
    from ..training import train

    config = TrainConfig(
        model=ModelConfig(arch=a.arch, preset=a.preset, height=a.height, width=a.width, channels=a.channels,
                          classes=a.classes, base_filters=a.base_filters, depth=a.depth,
                          batchnorm=a.batchnorm, dropout=a.dropout, task=a.task, boundary=a.boundary),
        data=data_config(a, augment=not a.no_augment, balance=a.balance),
        normalize=a.normalize, epochs=a.epochs, batch_size=a.batch_size, learning_rate=a.lr,
        patience=a.patience, seed=a.seed, strategy=a.strategy)
    result = train(config, Path(a.out), force=a.force)
    if result.written:
        print(f"saved {result.path} ({result.parameters:,} parameters, best epoch {result.best_epoch} "
              f"of {result.epochs_run})")
    else:
        print(f"trained as a worker (best epoch {result.best_epoch} of {result.epochs_run}); the chief writes the model")
    print("validation " + format_any_scores(result.val_scores))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="edgeseg", description="edgeseg: take an image-segmentation model to the "
                           "edge: prune, int8-quantize, export TFLite and ONNX, verify, benchmark, deploy")
    parser.add_argument("--version", action="version", version=f"edgeseg {__version__}")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's own start-up and log lines")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train a U-Net or deeplab_lite on a directory or synthetic data")
    data_args(t)
    t.add_argument("--arch", choices=ARCH_CHOICES, default=ModelConfig.arch)
    t.add_argument("--task", choices=TASK_CHOICES, default="semantic",
                   help="instance: foreground + inner-distance head, objects decoded on the device")
    t.add_argument("--boundary", action="store_true", help="instance task: add a boundary output channel")
    t.add_argument("--preset", default=ModelConfig.preset, help=f"one of {', '.join(PRESET_CHOICES)}")
    t.add_argument("--epochs", type=int, default=TRAIN.epochs)
    t.add_argument("--batch-size", type=int, default=TRAIN.batch_size)
    t.add_argument("--lr", type=float, default=TRAIN.learning_rate)
    t.add_argument("--patience", type=int, default=TRAIN.patience, help="early stopping: epochs without a better val Dice")
    t.add_argument("--normalize", choices=NORMALIZE_CHOICES, default=TRAIN.normalize)
    t.add_argument("--balance", choices=("none", "weight", "oversample"), default="none",
                   help="class balancing: foreground-weighted loss or oversampling images with foreground")
    t.add_argument("--no-augment", action="store_true")
    for name in ("height", "width", "channels", "classes", "base-filters", "depth"):
        t.add_argument(f"--{name}", type=int, default=None, help="override the preset")
    t.add_argument("--batchnorm", action=argparse.BooleanOptionalAction, default=None)
    t.add_argument("--dropout", type=float, default=None)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--strategy", choices=STRATEGY_CHOICES, default=TRAIN.strategy,
                   help="tf.distribute: mirrored = every local GPU; multiworker = the cluster in TF_CONFIG")
    t.add_argument("--out", required=True, help="model.keras to write")
    t.add_argument("--force", action="store_true", help="overwrite --out")
    t.set_defaults(func=_cmd_train)

    add_eval_parser(sub)
    add_data_parsers(sub)
    add_compress_parser(sub, model_args)

    add_bench_parsers(sub, data_args)

    add_deploy_parsers(sub)
    add_search_worker_parser(sub)
    add_demo_parser(sub)
    describe_commands(sub)
    accept_verbose_anywhere(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["bench", "merge"]:  # `bench PATH...` takes free paths, so merge is routed by hand
        argv = ["bench-merge", *argv[2:]]
    try:
        args = build_parser().parse_args(join_dash_values(argv))
    except SystemExit as exc:  # usage errors (one line, exit 2), --help and --version (exit 0)
        return exc.code if isinstance(exc.code, int) else 2
    quiet.configure(args.verbose)  # before any command can import TensorFlow
    try:
        with sigterm_as_interrupt():
            return args.func(args)
    except ModuleNotFoundError as exc:
        print(f"edgeseg: error: {missing_dependency(exc)}", file=sys.stderr)
        return 2
    except EdgesegError as exc:
        print(f"edgeseg: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        return interrupted_exit(exc)


if __name__ == "__main__":
    sys.exit(main())
