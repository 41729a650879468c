"""Command line: argparse subcommands -> typed config -> API call.

Exit codes: 0 ok, 1 unexpected failure, 2 bad input, 3 no deployable int8 artifact, 130 interrupted.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config import (ARCH_CHOICES, DEFAULT_SPARSITY, NORMALIZE_CHOICES, PRESET_CHOICES, STRATEGY_CHOICES,
                     CompressConfig, DataConfig, ModelConfig, TrainConfig)
from .cli_bench import add_bench_parsers
from .cli_deploy import add_deploy_parsers
from .errors import EdgesegError


def _data_args(p: argparse.ArgumentParser, default: str | None = "synthetic") -> None:
    p.add_argument("--data", default=default, metavar="DIR|synthetic",
                   help="DIR/images + DIR/masks (or DIR/train, DIR/val), or the built-in synthetic data")
    p.add_argument("--val-fraction", type=float, default=0.2, help="validation share when DIR has no split")
    p.add_argument("--synthetic-train", type=int, default=512, help="synthetic training images")
    p.add_argument("--synthetic-val", type=int, default=64, help="synthetic validation images")


def data_config(a: argparse.Namespace, **extra) -> DataConfig:
    return DataConfig(source=a.data, val_fraction=a.val_fraction, seed=a.seed,
                      synthetic_train=a.synthetic_train, synthetic_val=a.synthetic_val, **extra)


def _cmd_train(a: argparse.Namespace) -> int:
    from .evaluate import format_scores
    from .train import train

    config = TrainConfig(
        model=ModelConfig(arch=a.arch, preset=a.preset, height=a.height, width=a.width, channels=a.channels,
                          classes=a.classes, base_filters=a.base_filters, depth=a.depth,
                          batchnorm=a.batchnorm, dropout=a.dropout),
        data=data_config(a, augment=not a.no_augment, balance=a.balance),
        normalize=a.normalize, epochs=a.epochs, batch_size=a.batch_size, learning_rate=a.lr,
        patience=a.patience, seed=a.seed, strategy=a.strategy)
    result = train(config, Path(a.out), force=a.force)
    if result.written:
        print(f"saved {result.path} ({result.parameters:,} parameters, best epoch {result.best_epoch} "
              f"of {result.epochs_run})")
    else:
        print(f"trained as a worker (best epoch {result.best_epoch} of {result.epochs_run}); the chief writes the model")
    print("validation " + format_scores(result.val_scores))
    return 0


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--normalize", choices=NORMALIZE_CHOICES, default=None,
                   help="for models without a stored preprocessing spec (default 0-1)")
    p.add_argument("--custom-objects", default=None, metavar="FILE.py",
                   help="a Python file defining custom layer classes (Keras 3, and the tf_keras class to rebuild with)")
    p.add_argument("--unsafe", action="store_true",
                   help="allow Lambda layers, which run arbitrary Python stored in the model file")


def _cmd_eval(a: argparse.Namespace) -> int:
    from .data.dataset import load_splits
    from .evaluate import evaluate_predictor, format_scores, keras_predictor
    from .models.io import load_model

    model, spec = load_model(Path(a.model), a.normalize, a.unsafe, a.custom_objects)
    _, val = load_splits(data_config(a), spec)
    scores = evaluate_predictor(keras_predictor(model, a.batch_size), val, a.batch_size)
    print(f"{a.model} on {a.data} (validation split): " + format_scores(scores))
    return 0


def _cmd_synth(a: argparse.Namespace) -> int:
    from .config import PreprocessSpec
    from .data.dataset import Sample, SegmentationData, write_dataset
    from .errors import UsageError
    from .outputs import atomic_output_dir

    if a.count < 1 or a.size < 8:
        raise UsageError("--count must be >= 1 and --size >= 8")
    spec = PreprocessSpec(a.size, a.size, a.channels, classes=a.classes)
    data = SegmentationData([Sample(None, None, i) for i in range(a.count)], spec, a.seed)
    with atomic_output_dir(Path(a.out), a.force) as tmp:
        n = write_dataset(data, tmp)
    print(f"wrote {n} synthetic image/mask pairs to {a.out}")
    return 0


def _cmd_compress(a: argparse.Namespace) -> int:
    from .compress.pipeline import compress, default_out_dir
    from .compress.report import exit_code_for

    prune, sparsity = compress_pruning(a.prune, a.sparsity)
    config = CompressConfig(data=data_config(a), normalize=a.normalize, sparsity=sparsity,
                            max_dice_drop=a.max_dice_drop, qat=a.qat, finetune_steps=a.finetune_steps,
                            finetune_min_steps=min(a.finetune_min_steps, a.finetune_steps),
                            finetune_time=a.finetune_time, finetune_lr=a.finetune_lr,
                            distill=a.distill, unlabeled=a.unlabeled,
                            batch_size=a.batch_size, calibration_samples=a.calibration_samples, seed=a.seed,
                            unsafe=a.unsafe, custom_objects=a.custom_objects, edgetpu=a.edgetpu,
                            edgetpu_runtime=a.edgetpu_runtime, prune=prune, channel_ratio=a.channel_ratio,
                            channel_rounds=a.channel_rounds, channel_criterion=a.channel_criterion,
                            target=a.target, search_trials=a.search_trials, search_time=a.search_time)
    model_path = Path(a.model)
    result = compress(model_path, config, Path(a.out) if a.out else default_out_dir(model_path), force=a.force)
    return exit_code_for(result)


def compress_pruning(prune: str | None, sparsity: float | None) -> tuple[str, float]:
    """(--prune, --sparsity) as given -> the config's pair. No flag: post-training only;
    --sparsity alone: magnitude pruning, as before --prune existed."""
    if prune in (None, "magnitude"):
        default = DEFAULT_SPARSITY if prune == "magnitude" else 0.0
        return "magnitude", default if sparsity is None else sparsity
    return prune, 0.0 if sparsity is None else sparsity


def _cmd_demo(a: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(Path(a.out), force=a.force)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgeseg", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train a U-Net or deeplab_lite on a directory or synthetic data")
    _data_args(t)
    t.add_argument("--arch", choices=ARCH_CHOICES, default="unet")
    t.add_argument("--preset", default="small", help=f"one of {', '.join(PRESET_CHOICES)}")
    t.add_argument("--epochs", type=int, default=20)
    t.add_argument("--batch-size", type=int, default=16)
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--patience", type=int, default=5, help="early stopping: epochs without a better val Dice")
    t.add_argument("--normalize", choices=NORMALIZE_CHOICES, default="0-1")
    t.add_argument("--balance", choices=("none", "weight", "oversample"), default="none",
                   help="class balancing: foreground-weighted loss or oversampling images with foreground")
    t.add_argument("--no-augment", action="store_true")
    for name in ("height", "width", "channels", "classes", "base-filters", "depth"):
        t.add_argument(f"--{name}", type=int, default=None, help="override the preset")
    t.add_argument("--batchnorm", action=argparse.BooleanOptionalAction, default=None)
    t.add_argument("--dropout", type=float, default=None)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--strategy", choices=STRATEGY_CHOICES, default="none",
                   help="tf.distribute: mirrored = every local GPU; multiworker = the cluster in TF_CONFIG")
    t.add_argument("--out", required=True, help="model.keras to write")
    t.add_argument("--force", action="store_true", help="overwrite --out")
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("eval", help="Dice, IoU and pixel accuracy of a model on the validation split")
    e.add_argument("model")
    _data_args(e)
    _model_args(e)
    e.add_argument("--batch-size", type=int, default=8)
    e.add_argument("--seed", type=int, default=0)
    e.set_defaults(func=_cmd_eval)

    d = sub.add_parser("data", help="dataset tools")
    dsub = d.add_subparsers(dest="data_command", required=True)
    s = dsub.add_parser("synth", help="write the built-in synthetic data as a directory dataset")
    s.add_argument("--out", required=True)
    s.add_argument("--count", type=int, default=200)
    s.add_argument("--size", type=int, default=128)
    s.add_argument("--channels", type=int, choices=(1, 3), default=1)
    s.add_argument("--classes", type=int, default=1)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--force", action="store_true")
    s.set_defaults(func=_cmd_synth)

    c = sub.add_parser("compress", help="prune, quantize, export and verify a model")
    c.add_argument("model", help="a .keras (Keras 2 or 3) or .h5 file")
    _data_args(c, default="synthetic")
    _model_args(c)
    c.add_argument("--out", default=None, help="output directory (default: <model stem>_edgeseg/ beside the model)")
    c.add_argument("--prune", choices=("magnitude", "channels", "auto"), default=None,
                   help="default: none (post-training quantization only); magnitude: tfmot, smaller after gzip; "
                        "channels: whole filters removed, faster everywhere; auto: search the channel ratio for "
                        "the fastest int8 model within the budget")
    c.add_argument("--sparsity", type=float, default=None,
                   help=f"--prune magnitude: share of weights set to zero (default {DEFAULT_SPARSITY}; "
                        "giving it alone means --prune magnitude)")
    c.add_argument("--channel-ratio", type=float, default=0.5, help="--prune channels: share of filters removed")
    c.add_argument("--channel-rounds", type=int, default=1,
                   help="--prune channels/auto: remove-then-recover rounds sharing the fine-tuning budget")
    c.add_argument("--channel-criterion", choices=("taylor", "l1"), default="taylor",
                   help="--prune channels/auto: rank filters by first-order Taylor score on the data, or by weight norm")
    c.add_argument("--target", default="litert-cpu", help="--prune auto: runtime whose p50 latency is minimized")
    c.add_argument("--search-trials", type=int, default=4, help="--prune auto: most candidates fine-tuned")
    c.add_argument("--search-time", type=float, default=600.0, metavar="SECONDS",
                   help="--prune auto: no new candidate after this long")
    c.add_argument("--max-dice-drop", type=float, default=0.01, help="accuracy budget (absolute Dice)")
    c.add_argument("--qat", action="store_true", help="also quantization-aware training")
    c.add_argument("--finetune-steps", type=int, default=300,
                   help="most optimizer steps of pruning fine-tuning (warm-up, cosine decay; early stop "
                        "once the pruned model is within the budget and stops improving)")
    c.add_argument("--finetune-min-steps", type=int, default=100,
                   help="no early stop before this many steps; the sparsity ramp ends inside them")
    c.add_argument("--finetune-time", type=float, default=None, metavar="SECONDS",
                   help="stop fine-tuning after this long, whatever the steps")
    c.add_argument("--distill", type=float, default=0.0, metavar="WEIGHT",
                   help="mix a loss to the float model's probabilities into fine-tuning (0 = off)")
    c.add_argument("--unlabeled", default=None, metavar="DIR",
                   help="images without masks for --distill, used only through the float model")
    c.add_argument("--finetune-lr", type=float, default=5e-4, help="pruning fine-tuning learning rate (Adam)")
    c.add_argument("--calibration-samples", type=int, default=64)
    c.add_argument("--batch-size", type=int, default=8)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--edgetpu", action="store_true",
                   help="check the int8 model for the Edge TPU; compile it when edgetpu_compiler is installed")
    c.add_argument("--edgetpu-runtime", type=int, default=13, metavar="N",
                   help="Edge TPU runtime version to compile for (edgetpu_compiler -m N)")
    c.add_argument("--force", action="store_true", help="replace an existing output directory")
    c.set_defaults(func=_cmd_compress)

    add_bench_parsers(sub, _data_args)

    add_deploy_parsers(sub)

    m = sub.add_parser("demo", help="the main job end to end on synthetic data: train, compress, verify")
    m.add_argument("--out", default=".edgeseg/demo", help="output directory (default .edgeseg/demo)")
    m.add_argument("--force", action="store_true")
    m.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["bench", "merge"]:  # `bench PATH...` takes free paths, so merge is routed by hand
        argv = ["bench-merge", *argv[2:]]
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except EdgesegError as exc:
        print(f"edgeseg: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("edgeseg: interrupted; nothing was left half-written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
