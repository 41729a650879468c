"""Arguments and config builders shared by several sub-commands."""
from __future__ import annotations

import argparse

from ..config import DataConfig


def data_args(p: argparse.ArgumentParser, default: str | None = "synthetic") -> None:
    p.add_argument("--data", default=default, metavar="DIR|synthetic",
                   help="DIR/images + DIR/masks (or DIR/train, DIR/val), or the built-in synthetic data"
                        + ("" if default else "; default: the data edgeseg recorded in the model it trained "
                           "(or in the compress report)"))
    p.add_argument("--val-fraction", type=float, default=0.2, help="validation share when DIR has no split")
    p.add_argument("--synthetic-train", type=int, default=512, help="synthetic training images")
    p.add_argument("--synthetic-val", type=int, default=64, help="synthetic validation images")


def data_config(a: argparse.Namespace, **extra) -> DataConfig | None:
    """None when --data was left out where it has no default: the command decides (compress.data_source)."""
    given = DataConfig(source=a.data or "synthetic", val_fraction=a.val_fraction, seed=a.seed,
                       synthetic_train=a.synthetic_train, synthetic_val=a.synthetic_val, **extra)  # validates
    return None if a.data is None else given
