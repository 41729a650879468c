"""Benchmark: compression on a small real dataset (issue 13), the regime users live in.

Data: scikit-image's bundled immunohistochemistry image (`skimage.data.immunohistochemistry()`,
512x512 RGB, shipped inside the wheel: no download). It has no masks, so the mask is derived
classically: the DAB (brown stain) channel of a haematoxylin-eosin-DAB colour deconvolution
(`skimage.color.rgb2hed`), Gaussian smoothing (sigma 3), Otsu's threshold, opening with a disk
of radius 3, and removal of objects and holes under 200 pixels. The task is "find the
DAB-stained epithelium". Tiles are 128x128: the top 384 rows give 35 training tiles (stride
64), the bottom 128 rows 7 validation tiles (stride 64) that overlap no training tile.

Model: the seed U-Net at 128x128 (grayscale input), trained once and cached under OUT/.
Then compress variants run with their default fine-tuning settings.

Usage: .venv/bin/python benchmarks/small_data.py [--out .edgeseg/small_data] [--variants channels,magnitude]
Needs the `bench` extra (scikit-image).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

TILE, STRIDE, TRAIN_ROWS = 128, 64, 384


def stained_mask(rgb: np.ndarray) -> np.ndarray:
    """The documented classical mask: DAB channel, smoothing, Otsu, morphology."""
    from skimage import color, filters, morphology

    dab = filters.gaussian(color.rgb2hed(rgb)[..., 2], sigma=3)
    mask = morphology.binary_opening(dab > filters.threshold_otsu(dab), morphology.disk(3))
    mask = morphology.remove_small_objects(mask, 200)
    return morphology.remove_small_holes(mask, 200)


def tiles(height: int, width: int, top: int, bottom: int) -> list[tuple[int, int]]:
    return [(r, c) for r in range(top, bottom - TILE + 1, STRIDE) for c in range(0, width - TILE + 1, STRIDE)]


def write_dataset(out: Path) -> Path:
    """OUT/data/{train,val}/{images,masks}/*.png; written once."""
    from skimage import data

    root = out / "data"
    if (root / "val" / "masks").is_dir():
        return root
    rgb = data.immunohistochemistry()
    mask = stained_mask(rgb)
    height, width = mask.shape
    splits = {"train": tiles(height, width, 0, TRAIN_ROWS), "val": tiles(height, width, TRAIN_ROWS, height)}
    staging = out / ".data_tmp"
    for split, corners in splits.items():
        for kind in ("images", "masks"):
            (staging / split / kind).mkdir(parents=True, exist_ok=True)
        for n, (r, c) in enumerate(corners):
            Image.fromarray(rgb[r:r + TILE, c:c + TILE]).save(staging / split / "images" / f"{n:03d}.png")
            Image.fromarray((mask[r:r + TILE, c:c + TILE] * 255).astype(np.uint8)).save(
                staging / split / "masks" / f"{n:03d}.png")
    staging.replace(root)
    print(f"wrote {len(splits['train'])} train / {len(splits['val'])} val tiles to {root} "
          f"(foreground {mask.mean():.2f})")
    return root


def train_model(out: Path, data_dir: Path, epochs: int) -> Path:
    from edgeseg.config import DataConfig, ModelConfig, TrainConfig
    from edgeseg.train import train

    path = out / "seed128.keras"
    if path.is_file():
        return path
    config = TrainConfig(model=ModelConfig(preset="seed", height=TILE, width=TILE),
                         data=DataConfig(source=str(data_dir)), epochs=epochs, batch_size=8,
                         learning_rate=1e-3, patience=20, verbose=1)
    start = time.perf_counter()
    result = train(config, path)
    print(f"trained {path} in {time.perf_counter() - start:.0f} s: best epoch {result.best_epoch} of "
          f"{result.epochs_run}, val Dice {result.val_scores['dice']:.4f}")
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=".edgeseg/small_data")
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--train-only", action="store_true")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data_dir = write_dataset(out)
    model = train_model(out, data_dir, args.epochs)
    if args.train_only:
        return
    print(json.dumps({"model": str(model)}))


if __name__ == "__main__":
    main()
