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
from .common import data_args, data_config
from .compress import add_compress_parser
from .deploy import add_deploy_parsers
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
    print("validation " + _format_any(result.val_scores))
    return 0


def _format_any(scores: dict) -> str:
    """Instance scores (PQ, F1, AJI) or semantic ones (Dice, IoU), whichever these are."""
    from ..scoring.predictors import format_scores
    from ..metrics.instance import format_instance_scores

    return format_instance_scores(scores) if "pq" in scores else format_scores(scores)


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--normalize", choices=NORMALIZE_CHOICES, default=None,
                   help="for models without a stored preprocessing spec; 0-1 when not given")
    p.add_argument("--custom-objects", default=None, metavar="FILE.py",
                   help="a Python file defining custom layer classes (Keras 3, and the tf_keras class to rebuild with)")
    p.add_argument("--unsafe", action="store_true",
                   help="allow Lambda layers, which run arbitrary Python stored in the model file")


def _cmd_eval(a: argparse.Namespace) -> int:
    from ..preflight import check_custom_objects, check_data_source, check_model_file
    from ..safety import finite

    finite("--batch-size", a.batch_size, 1)
    data = data_config(a)  # flags first, then paths, all before TensorFlow is imported
    check_model_file(Path(a.model))
    check_data_source(a.data)
    check_custom_objects(a.custom_objects)
    from ..compress.data_source import choose_data
    from ..scoring.predictors import keras_predictor
    from ..scoring.task import task_for
    from ..models.io import load_model

    model, spec = load_model(Path(a.model), a.normalize, a.unsafe, a.custom_objects)
    choice = choose_data(Path(a.model), data)
    task = task_for(spec)  # stored in the model's spec: no flag needed
    val = task.load_validation(choice.data, spec)
    predict = keras_predictor(model, a.batch_size)
    scores = task.evaluate(predict, val, a.batch_size)
    print(f"{a.model} on {choice.data.source} (validation split): " + _format_any(scores))
    check = task.float_check(predict, val, scores, model, a.batch_size, choice.judged_by_dice, choice.summary())
    if check:
        print(check)
    return 0


def _cmd_import_coco(a: argparse.Namespace) -> int:
    from ..instances.coco_import import import_coco

    n = import_coco(Path(a.annotations), Path(a.images), Path(a.out), force=a.force)
    print(f"wrote {n} images and 16-bit instance masks to {a.out}")
    return 0


def _cmd_synth(a: argparse.Namespace) -> int:
    from ..config import PreprocessSpec
    from ..data.dataset import Sample, SegmentationData, write_dataset
    from ..errors import UsageError
    from ..outputs import atomic_output_dir
    from ..safety import finite

    if a.count < 1 or a.size < 8:
        raise UsageError("--count must be >= 1 and --size >= 8")
    finite("--size", a.size)  # an unbounded size grew to 23 GB before the OOM killer stopped it
    finite("--count", a.count)
    spec = PreprocessSpec(a.size, a.size, a.channels, classes=a.classes)
    from ..data.instance_data import InstanceData, write_instance_dataset

    # --task -> (its synthetic data, its writer); instance: touching objects, masks as 16-bit instance ids
    makers = {"semantic": (SegmentationData, write_dataset), "instance": (InstanceData, write_instance_dataset)}
    make, write = makers[a.task]
    data = make([Sample(None, None, i) for i in range(a.count)], spec, a.seed)
    with atomic_output_dir(Path(a.out), a.force) as tmp:
        n = write(data, tmp)
    print(f"wrote {n} synthetic image/mask pairs to {a.out}")
    return 0


def _cmd_demo(a: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(Path(a.out), force=a.force)


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

    e = sub.add_parser("eval", help="Dice, IoU and pixel accuracy of a model on the validation split")
    e.add_argument("model")
    data_args(e, default=None)
    _model_args(e)
    e.add_argument("--batch-size", type=int, default=8)
    e.add_argument("--seed", type=int, default=0)
    e.set_defaults(func=_cmd_eval)

    d = sub.add_parser("data", help="dataset tools")
    dsub = d.add_subparsers(dest="data_command", required=True)
    s = dsub.add_parser("synth", help="write the built-in synthetic data as a directory dataset")
    s.add_argument("--out", required=True)
    s.add_argument("--count", type=int, default=200, help="image/mask pairs to write")
    s.add_argument("--size", type=int, default=128, help="height and width in pixels")
    s.add_argument("--channels", type=int, choices=(1, 3), default=1, help="1 (gray) or 3 (RGB)")
    s.add_argument("--classes", type=int, default=1, help="foreground classes in the masks")
    s.add_argument("--task", choices=TASK_CHOICES, default="semantic", help="instance: 16-bit instance-id masks")
    s.add_argument("--seed", type=int, default=0, help="seed of the generator")
    s.add_argument("--force", action="store_true")
    s.set_defaults(func=_cmd_synth)
    ic = dsub.add_parser("import-coco", help="COCO instance annotations -> images/ + 16-bit instance masks/")
    ic.add_argument("annotations", help="COCO JSON (polygons or RLE; iscrowd regions are ignored)")
    ic.add_argument("images", help="the directory holding the images it lists")
    ic.add_argument("--out", required=True, help="the directory dataset to write (images/, masks/)")
    ic.add_argument("--force", action="store_true", help="replace an existing --out")
    ic.set_defaults(func=_cmd_import_coco)

    add_compress_parser(sub, _model_args)

    add_bench_parsers(sub, data_args)

    add_deploy_parsers(sub)
    add_search_worker_parser(sub)

    m = sub.add_parser("demo", help="the main job end to end on synthetic data: train, compress, verify")
    m.add_argument("--out", default=".edgeseg/demo", help="output directory")
    m.add_argument("--force", action="store_true")
    m.set_defaults(func=_cmd_demo)
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
