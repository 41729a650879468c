"""`edgeseg compress`: the flags, whose defaults are read from CompressConfig (never restated
here), and the command that checks everything cheap before TensorFlow is imported."""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ..config import DEFAULT_MAX_PQ_DROP, DEFAULT_SPARSITY, FORMAT_CHOICES, PRUNE_CHOICES, CompressConfig
from ..errors import UsageError
from .common import data_args, data_config

DEFAULTS = {f.name: f.default for f in dataclasses.fields(CompressConfig)}

# flag -> (type, help); each default comes from the CompressConfig field of the same name
OPTIONS: dict[str, tuple[type, str]] = {
    "--channel-rounds": (int, "--prune channels/auto: remove-then-recover rounds sharing the fine-tuning budget"),
    "--search-trials": (int, "--prune auto: most candidates fine-tuned"),
    "--search-time": (float, "--prune auto: seconds for the study; no candidate starts that its mean trial time says would end after them"),
    "--max-dice-drop": (float, "accuracy budget (absolute Dice)"),
    "--max-pq-drop": (float, f"instance models' accuracy budget (absolute PQ; default {DEFAULT_MAX_PQ_DROP}); "
                             "refused for semantic models"),
    "--finetune-steps": (int, "most optimizer steps of pruning fine-tuning (warm-up, cosine decay; early stop "
                              "once the pruned model is within the budget and stops improving)"),
    "--finetune-min-steps": (int, "no early stop before this many steps; the sparsity ramp ends inside them"),
    "--finetune-scale": (float, "--prune channels/auto: the step budget grows with the share of filters removed "
                                "(removed / 0.5 times --finetune-steps) up to this multiple (1 = fixed)"),
    "--finetune-time": (float, "stop fine-tuning after this many seconds, whatever the steps"),
    "--finetune-lr": (float, "pruning fine-tuning peak learning rate (Adam)"),
    "--qat-steps": (int, "optimizer steps of quantization-aware training"),
    "--distill": (float, "mix a loss to the float model's probabilities into fine-tuning (0 = off)"),
    "--unlabeled": (str, "images without masks for --distill, used only through the float model"),
    "--calibration-samples": (int, "images the int8 calibration sees"),
    "--batch-size": (int, "images per batch"),
    "--seed": (int, "seed of the data split, augmentation and fine-tuning"),
    "--edgetpu-runtime": (int, "Edge TPU runtime version to check and compile for (edgetpu_compiler -m N)"),
}


def _field(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def add_compress_parser(sub, model_args) -> None:
    c = sub.add_parser("compress", help="prune, quantize, export and verify a model")
    c.add_argument("model", help="a .keras (Keras 2 or 3) or .h5 file")
    data_args(c, default=None)
    model_args(c)
    c.add_argument("--out", default=None, help="output directory (default: <model stem>_edgeseg/ beside the model)")
    c.add_argument("--prune", choices=PRUNE_CHOICES, default=None,
                   help="default: none (post-training quantization only); magnitude: tfmot, smaller after gzip; "
                        "channels: whole filters removed, faster everywhere; auto: search the channel ratio for "
                        "the fastest int8 model within the budget")
    c.add_argument("--sparsity", type=float, default=None,
                   help=f"--prune magnitude: share of weights set to zero (default {DEFAULT_SPARSITY}; "
                        "giving it alone means --prune magnitude)")
    c.add_argument("--formats", default=",".join(FORMAT_CHOICES),
                   help=f"comma-separated artifact formats to build, from {', '.join(FORMAT_CHOICES)}")
    # Given only with the --prune value they belong to (None: not given, the config's default).
    c.add_argument("--channel-ratio", type=float, default=None,
                   help=f"--prune channels: share of filters removed (default: {DEFAULTS['channel_ratio']})")
    c.add_argument("--target", default=None,
                   help=f"--prune auto: runtime whose p50 latency is minimized (default: {DEFAULTS['target']})")
    c.add_argument("--study", default=None, metavar="PATH_OR_URL",
                   help="--prune auto: the Optuna study (a .sqlite3 or .journal file, or a database URL) that a killed "
                        "run resumes and `edgeseg search-worker`s join (default: OUT.study/study.sqlite3 beside OUT)")
    c.add_argument("--channel-criterion", choices=("taylor", "l1"), default=DEFAULTS["channel_criterion"],
                   help="--prune channels/auto: rank filters by first-order Taylor score on the data, or by weight norm")
    for flag, (kind, text) in OPTIONS.items():
        c.add_argument(flag, type=kind, default=DEFAULTS[_field(flag)], help=text)
    c.add_argument("--qat", action="store_true", help="also quantization-aware training")
    c.add_argument("--edgetpu", action="store_true",
                   help="check the int8 model for the Edge TPU; compile it when edgetpu_compiler is installed")
    c.add_argument("--explain", action="store_true",
                   help="where int8 hurts: per layer, the Dice it costs (re-quantized with it alone in float), "
                        "a plot in graph order and a heatmap of where int8 and float masks differ (explain/)")
    c.add_argument("--force", action="store_true", help="replace an existing output directory")
    c.set_defaults(func=_cmd_compress)


def compress_pruning(prune: str | None, sparsity: float | None) -> tuple[str, float]:
    """(--prune, --sparsity) as given -> the config's pair. No flag: post-training only;
    --sparsity alone: magnitude pruning, as before --prune existed."""
    if prune is None:
        prune = "magnitude" if sparsity is not None else "none"
    if sparsity is not None and prune != "magnitude":
        raise UsageError(f"--sparsity is for --prune magnitude, not --prune {prune}")
    return prune, DEFAULT_SPARSITY if sparsity is None else sparsity


def _belonging(a: argparse.Namespace, prune: str) -> dict:
    """--channel-ratio and --target, refused with a --prune they do nothing for."""
    given = {}
    if a.channel_ratio is not None:
        if prune != "channels":
            raise UsageError("--channel-ratio is for --prune channels (--prune auto searches the ratio itself)")
        given["channel_ratio"] = a.channel_ratio
    if a.target is not None:
        if prune != "auto":
            raise UsageError("--target is for --prune auto")
        from ..runtimes import REGISTRY

        if "tflite" not in getattr(REGISTRY.get(a.target), "formats", ()):
            runs = ", ".join(n for n, r in REGISTRY.items() if "tflite" in r.formats)
            raise UsageError(f"--target must be a runtime that runs TFLite ({runs}), got {a.target!r}")
        given["target"] = a.target
    if a.study is not None:
        if prune != "auto":
            raise UsageError("--study is for --prune auto")
        given["study"] = a.study
    return given


def compress_config(a: argparse.Namespace) -> CompressConfig:
    prune, sparsity = compress_pruning(a.prune, a.sparsity)
    options = {_field(flag): getattr(a, _field(flag)) for flag in OPTIONS}
    options["finetune_min_steps"] = min(options["finetune_min_steps"], options["finetune_steps"])
    return CompressConfig(data=data_config(a), normalize=a.normalize, prune=prune, sparsity=sparsity,
                          formats=tuple(f.strip() for f in a.formats.split(",") if f.strip()), qat=a.qat,
                          unsafe=a.unsafe, custom_objects=a.custom_objects, edgetpu=a.edgetpu, explain=a.explain,
                          channel_criterion=a.channel_criterion, **options, **_belonging(a, prune))


def _cmd_compress(a: argparse.Namespace) -> int:
    from ..compress.pipeline import default_out_dir  # light: numpy, no TensorFlow
    from ..models.inspect_config import crashes_onednn_training
    from ..preflight import check_compress_inputs

    model_path = Path(a.model)
    out = Path(a.out) if a.out else default_out_dir(model_path)
    config = compress_config(a)
    check_compress_inputs(model_path, a.data, out, a.force, a.custom_objects)  # before TensorFlow is imported
    if config.prune == "auto":
        from ..search.study import check_study

        check_study(config.study, out, (model_path, a.data, a.custom_objects))
    if (config.prune != "none" or config.qat) and (config.prune == "auto" or crashes_onednn_training(model_path)):
        from ..backend import without_onednn_for_training

        without_onednn_for_training()  # before TensorFlow is imported (see backend.py)
    from ..compress.pipeline import compress
    from ..safety import claim_output

    with claim_output(out):  # a second compress on this --out fails now, not after an hour of work
        return compress(model_path, config, out, force=a.force).exit_code
