"""The main job end to end on the built-in synthetic data: train a small U-Net, then
compress, export and verify it, printing Dice at every stage."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..config import CompressConfig, DataConfig, ModelConfig, TrainConfig
from ..errors import OutputExistsError


def run_demo(out: Path, force: bool = False) -> int:
    from ..compress.pipeline import compress
    from ..scoring.predictors import format_scores
    from ..training import train

    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise OutputExistsError(f"{out} exists and is not empty; pass --force to replace it")
    data = DataConfig(synthetic_train=512, synthetic_val=64)
    print("== 1/2 train: small U-Net on synthetic data", flush=True)
    result = train(TrainConfig(model=ModelConfig(arch="unet", preset="small"), data=data, epochs=12,
                               batch_size=16, patience=4), out / "model.keras", force=True)
    print(f"validation {format_scores(result.val_scores)}", flush=True)
    print("== 2/2 compress: prune, quantize, export, verify", flush=True)
    report = compress(result.path, CompressConfig(data=data, prune="magnitude", sparsity=0.5),
                      out / "compressed", force=True)
    print(f"\nfloat Keras Dice {result.val_scores['dice']:.4f}; artifacts and their Dice in "
          f"{out / 'compressed' / 'report.md'}")
    print(f"demo wrote {out.resolve()}/ (model.keras, compressed/)")  # the last line: where everything is
    return report.exit_code


DEMO_OUT = ".edgeseg/demo"


def _cmd_demo(a: argparse.Namespace) -> int:
    return run_demo(Path(a.out), force=a.force)


def add_demo_parser(sub) -> None:
    m = sub.add_parser("demo", help="the main job end to end on synthetic data: train, compress, verify")
    m.add_argument("--out", default=DEMO_OUT, help="output directory")
    m.add_argument("--force", action="store_true", help="replace a non-empty --out")
    m.set_defaults(func=_cmd_demo)
