"""Arguments and config builders shared by several sub-commands."""
from __future__ import annotations

import argparse
import sys

from ..config import NORMALIZE_CHOICES, DataConfig

# Flags that only shape the --data set: without --data the recorded data is used as recorded.
DATA_SHAPING = {"val_fraction": "--val-fraction", "synthetic_train": "--synthetic-train",
                "synthetic_val": "--synthetic-val"}


def data_args(p: argparse.ArgumentParser, default: str | None = "synthetic") -> None:
    p.add_argument("--data", default=default, metavar="DIR|synthetic",
                   help="DIR/images + DIR/masks (or DIR/train, DIR/val), or the built-in synthetic data"
                        + ("" if default else "; default: the data edgeseg recorded in the model it trained "
                           "(or in the compress report)"))
    p.add_argument("--val-fraction", type=float, default=0.2, help="validation share when DIR has no split")
    p.add_argument("--synthetic-train", type=int, default=512, help="synthetic training images")
    p.add_argument("--synthetic-val", type=int, default=64, help="synthetic validation images")


def data_config(a: argparse.Namespace, **extra) -> DataConfig | None:
    """None when --data was left out where it has no default: the command decides (compress.data_source);
    a flag that shapes the data set is then said to do nothing, not silently dropped."""
    given = DataConfig(source=a.data or "synthetic", val_fraction=a.val_fraction, seed=a.seed,
                       synthetic_train=a.synthetic_train, synthetic_val=a.synthetic_val, **extra)  # validates
    if a.data is not None:
        return given
    ignored = [flag for field, flag in DATA_SHAPING.items() if getattr(a, field) != getattr(DataConfig, field)]
    if ignored:
        print(f"edgeseg: note: {', '.join(ignored)} shape(s) the --data set and do nothing without --data: the data "
              "recorded with the model (or its compress report) is used as recorded; give --data to change it",
              file=sys.stderr)
    return None


def model_args(p: argparse.ArgumentParser) -> None:
    """How a Keras model file is read: for commands that load one (eval, compress)."""
    p.add_argument("--normalize", choices=NORMALIZE_CHOICES, default=None,
                   help="for models without a stored preprocessing spec; 0-1 when not given")
    p.add_argument("--custom-objects", default=None, metavar="FILE.py",
                   help="a Python file defining your own Keras 3 layer classes (no tf_keras twin needed)")
    p.add_argument("--unsafe", action="store_true",
                   help="allow Lambda layers, which run arbitrary Python stored in the model file")


def format_any_scores(scores: dict) -> str:
    """Instance scores (PQ, F1, AJI) or semantic ones (Dice, IoU), whichever these are."""
    from ..metrics.instance import format_instance_scores
    from ..scoring.predictors import format_scores

    return format_instance_scores(scores) if "pq" in scores else format_scores(scores)
