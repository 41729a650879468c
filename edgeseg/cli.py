"""Command line: argparse subcommands -> typed config -> API call.

Exit codes: 0 ok, 1 unexpected failure, 2 bad input, 3 no deployable int8 artifact, 130 interrupted.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config import (ARCH_CHOICES, NORMALIZE_CHOICES, PRESET_CHOICES, STRATEGY_CHOICES, CompressConfig, DataConfig,
                     ModelConfig, TrainConfig)
from .errors import EdgesegError


def _data_args(p: argparse.ArgumentParser, default: str | None = "synthetic") -> None:
    p.add_argument("--data", default=default, metavar="DIR|synthetic",
                   help="DIR/images + DIR/masks (or DIR/train, DIR/val), or the built-in synthetic data")
    p.add_argument("--val-fraction", type=float, default=0.2, help="validation share when DIR has no split")
    p.add_argument("--synthetic-train", type=int, default=512, help="synthetic training images")
    p.add_argument("--synthetic-val", type=int, default=64, help="synthetic validation images")


def _data_config(a: argparse.Namespace, **extra) -> DataConfig:
    return DataConfig(source=a.data, val_fraction=a.val_fraction, seed=a.seed,
                      synthetic_train=a.synthetic_train, synthetic_val=a.synthetic_val, **extra)


def _cmd_train(a: argparse.Namespace) -> int:
    from .evaluate import format_scores
    from .train import train

    config = TrainConfig(
        model=ModelConfig(arch=a.arch, preset=a.preset, height=a.height, width=a.width, channels=a.channels,
                          classes=a.classes, base_filters=a.base_filters, depth=a.depth,
                          batchnorm=a.batchnorm, dropout=a.dropout),
        data=_data_config(a, augment=not a.no_augment, balance=a.balance),
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
    _, val = load_splits(_data_config(a), spec)
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

    config = CompressConfig(data=_data_config(a), normalize=a.normalize, sparsity=a.sparsity,
                            max_dice_drop=a.max_dice_drop, qat=a.qat, finetune_epochs=a.finetune_epochs,
                            finetune_lr=a.finetune_lr,
                            batch_size=a.batch_size, calibration_samples=a.calibration_samples, seed=a.seed,
                            unsafe=a.unsafe, custom_objects=a.custom_objects, edgetpu=a.edgetpu,
                            edgetpu_runtime=a.edgetpu_runtime, prune=a.prune, channel_ratio=a.channel_ratio)
    model_path = Path(a.model)
    result = compress(model_path, config, Path(a.out) if a.out else default_out_dir(model_path), force=a.force)
    return exit_code_for(result)


def _bench_outputs(a: argparse.Namespace):
    from .bench.run import Outputs

    return Outputs(*(Path(p) if p else None for p in (a.json, a.csv, a.md, a.plot)), force=a.force)


def _cmd_bench(a: argparse.Namespace) -> int:
    from .bench.gate import compare, parse_fail_on
    from .bench.report import load_bench, render_terminal
    from .bench.run import bench, write_outputs
    from .config import BenchConfig
    from .errors import UsageError

    if (a.fail_on or a.reference) and not a.baseline:
        raise UsageError("--fail-on and --reference need --baseline FILE")
    tolerances = parse_fail_on(a.fail_on or "latency=+10%,dice=-0.005,size=+2%") if a.baseline else None
    baseline = load_bench(Path(a.baseline)) if a.baseline else None
    if baseline is not None and "machines" in baseline:
        raise UsageError(f"{a.baseline} is a merged file; give the bench JSON of one run as --baseline")
    runtimes = tuple(n.strip() for n in a.runtimes.split(",") if n.strip())
    config = BenchConfig(data=_data_config(a), normalize=a.normalize, runtimes=runtimes, threads=a.threads,
                         warmup=a.warmup, min_runs=a.min_runs, min_time=a.min_time)
    outputs = _bench_outputs(a)
    outputs.check()
    report = bench([Path(p) for p in a.artifacts], config)
    print("\n" + render_terminal(report))
    for path in write_outputs(report, outputs):
        print(f"wrote {path}")
    if baseline is None:
        return 0
    regressions, notes = compare(report, baseline, tolerances, a.reference)
    for note in notes:
        print(f"gate: note: {note}")
    for line in regressions:
        print(f"gate: REGRESSION: {line}")
    print(f"gate: {len(regressions)} regression(s) against {a.baseline}")
    return 1 if regressions else 0


def _cmd_bench_merge(a: argparse.Namespace) -> int:
    from .bench.merge import merge
    from .bench.report import render_terminal
    from .bench.run import write_outputs

    outputs = _bench_outputs(a)
    outputs.check()
    report = merge([Path(p) for p in a.files])
    print(render_terminal(report, with_machine=True))
    for path in write_outputs(report, outputs, with_machine=True):
        print(f"wrote {path}")
    return 0


def _cmd_predict(a: argparse.Namespace) -> int:
    from .deploy.predict import predict_all
    from .deploy.segmenter import load_segmenter
    from .errors import UsageError

    if a.max_frames is not None and a.max_frames < 1:
        raise UsageError("--max-frames must be >= 1")
    segmenter = load_segmenter(Path(a.model), a.threads, a.normalize)
    print(f"{a.model}: {segmenter.spec.height}x{segmenter.spec.width}x{segmenter.spec.channels} input, "
          f"normalize {segmenter.spec.normalize} ({segmenter.spec_source})", file=sys.stderr)
    count = predict_all(segmenter, a.inputs, Path(a.out), overlay=a.overlay, tile=a.tile, force=a.force,
                        max_frames=a.max_frames)
    print(f"wrote {count} mask(s) to {a.out}")
    return 0


def _cmd_bundle(a: argparse.Namespace) -> int:
    from .deploy.bundle import make_bundle

    manifest = make_bundle(Path(a.compress_dir), a.artifact, Path(a.out), Path(a.bench) if a.bench else None,
                           force=a.force, allow_undeployable=a.allow_undeployable)
    model = manifest["model"]
    print(f"wrote {a.out}: {model['file']} ({model['precision']}, sha256 {model['sha256'][:12]}...), "
          f"Dice {manifest['measured']['dice']:.4f}")
    return 0


def _cmd_edgetpu_check(a: argparse.Namespace) -> int:
    from .deploy.edgetpu import check, render

    report = check(Path(a.model), a.runtime_version)
    print(render(report))
    return 0 if report.ready else 3


def _output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", metavar="F", help="write every field as JSON (schema edgeseg.bench/1)")
    p.add_argument("--csv", metavar="F")
    p.add_argument("--md", metavar="F", help="Markdown table")
    p.add_argument("--plot", metavar="F.png", help="p50 latency (p90 whiskers) against Dice; needs matplotlib")
    p.add_argument("--force", action="store_true", help="replace existing output files")


def _cmd_demo(a: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(Path(a.out), force=a.force)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgeseg", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

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
    c.add_argument("--prune", choices=("magnitude", "channels"), default="magnitude",
                   help="magnitude: tfmot, smaller after gzip; channels: whole filters removed, faster everywhere")
    c.add_argument("--sparsity", type=float, default=0.5, help="--prune magnitude: share of weights set to zero")
    c.add_argument("--channel-ratio", type=float, default=0.5, help="--prune channels: share of filters removed")
    c.add_argument("--max-dice-drop", type=float, default=0.01, help="accuracy budget (absolute Dice)")
    c.add_argument("--qat", action="store_true", help="also quantization-aware training")
    c.add_argument("--finetune-epochs", type=int, default=2, help="pruning fine-tuning epochs")
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

    b = sub.add_parser("bench", help="latency, size and Dice of artifacts on every available runtime "
                                     "(also: edgeseg bench merge A.json B.json ...)")
    b.add_argument("artifacts", nargs="+", metavar="ARTIFACT_OR_COMPRESS_DIR")
    _data_args(b)
    b.add_argument("--normalize", choices=NORMALIZE_CHOICES, default=None,
                   help="for artifacts without a compress report beside them (default 0-1)")
    b.add_argument("--runtimes", default="auto", help="auto, or a comma-separated list, e.g. litert-cpu,ort-cpu")
    b.add_argument("--threads", type=int, default=None, help="CPU threads per runtime (default: every core)")
    b.add_argument("--warmup", type=int, default=5, help="untimed runs per row before timing")
    b.add_argument("--min-runs", type=int, default=30, help="at least this many timed runs per row")
    b.add_argument("--min-time", type=float, default=2.0, help="at least this many seconds of timed runs per row")
    _output_args(b)
    b.add_argument("--baseline", metavar="F", help="a bench JSON to compare with (the CI gate); exit 1 on regression")
    b.add_argument("--fail-on", metavar="SPEC", help="limits, default latency=+10%%,dice=-0.005,size=+2%%")
    b.add_argument("--reference", metavar="NAME",
                   help="artifact whose p50 latency is divided out (default: each runtime's float32 model)")
    b.add_argument("--seed", type=int, default=0)
    b.set_defaults(func=_cmd_bench)

    bm = sub.add_parser("bench-merge", help=argparse.SUPPRESS)
    bm.add_argument("files", nargs="+", metavar="BENCH.json")
    _output_args(bm)
    bm.set_defaults(func=_cmd_bench_merge)

    p = sub.add_parser("predict", help="masks for images, folders, videos or a camera (no TensorFlow needed)")
    p.add_argument("model", help="a .tflite or .onnx model, or a bundle.zip from `edgeseg bundle`")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="images, folders of images, video files, or a camera index")
    p.add_argument("--out", required=True, help="output directory for the mask PNGs")
    p.add_argument("--overlay", action="store_true", help="also write original | mask | overlay figures")
    p.add_argument("--tile", action="store_true", help="sliding windows at native resolution for large images")
    p.add_argument("--normalize", choices=NORMALIZE_CHOICES, default=None, help="for models without a stored spec")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--max-frames", type=int, default=None, help="stop videos and cameras after N frames")
    p.add_argument("--force", action="store_true", help="replace an existing output directory")
    p.set_defaults(func=_cmd_predict)

    u = sub.add_parser("bundle", help="a deploy zip: model, manifest.json (sha256, I/O, spec, measured Dice) and README")
    u.add_argument("compress_dir", metavar="COMPRESS_OUT_DIR")
    u.add_argument("--artifact", required=True, metavar="PATH", help="an artifact path as listed in report.json")
    u.add_argument("--out", required=True, help="bundle.zip to write")
    u.add_argument("--bench", metavar="F.json", help="a bench JSON whose latency rows for the artifact go in the manifest")
    u.add_argument("--allow-undeployable", action="store_true", help="bundle an artifact that missed the Dice budget")
    u.add_argument("--force", action="store_true")
    u.set_defaults(func=_cmd_bundle)

    k = sub.add_parser("edgetpu-check", help="which ops of a .tflite would run on the Edge TPU, and why not (exit 3 if any)")
    k.add_argument("model")
    k.add_argument("--runtime-version", type=int, default=14, help="Edge TPU runtime version to check against")
    k.set_defaults(func=_cmd_edgetpu_check)

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
