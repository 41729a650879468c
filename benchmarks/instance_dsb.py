"""Benchmark (issue 16): float vs int8 PQ/F1 on real nuclei: the 2018 Data Science Bowl image
(512x512 fluorescence, 125 labelled nuclei; Caicedo et al., Nature Methods 2019) that the
stardist package ships as test data (stardist/data/images/img2d.tif and mask2d.tif).

Getting the files without installing stardist (and its dependencies):
    pip download stardist==0.9.2 --no-deps -d /tmp/sd && cd /tmp/sd && unzip -o *.whl 'stardist/data/*'

The image is cut into non-overlapping 64x64 crops (64 crops); the right quarter of the image
(16 crops) is the validation split, the rest (48 crops) trains, so no validation pixel is seen
in training. Images are written as 8-bit PNG (the file's values are 0..235, so this is lossless)
and masks as 16-bit instance ids. Then as benchmarks/instance_small.py: train the small
instance U-Net, convert to int8, score both on the validation crops.

Usage: PYTHONPATH=. .venv/bin/python benchmarks/instance_dsb.py --data /tmp/sd/stardist/data/images
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from edgeseg.config import DataConfig
from edgeseg.data.instance_targets import relabel_sequential
from instance_small import train_and_compare

CROP = 64


def write_crops(image: np.ndarray, mask: np.ndarray, root: Path) -> tuple[int, int]:
    counts = {"train": 0, "val": 0}
    h, w = image.shape
    for top in range(0, h - CROP + 1, CROP):
        for left in range(0, w - CROP + 1, CROP):
            split = "val" if left >= w * 3 // 4 else "train"
            for kind in ("images", "masks"):
                (root / split / kind).mkdir(parents=True, exist_ok=True)
            name = f"{top:03d}_{left:03d}.png"
            Image.fromarray(image[top:top + CROP, left:left + CROP].astype(np.uint8)).save(root / split / "images" / name)
            labels = relabel_sequential(mask[top:top + CROP, left:left + CROP])
            Image.fromarray(labels.astype(np.uint16)).save(root / split / "masks" / name)
            counts[split] += 1
    return counts["train"], counts["val"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True, help="directory holding img2d.tif and mask2d.tif")
    parser.add_argument("--out", default=".edgeseg/instance_dsb")
    parser.add_argument("--epochs", type=int, default=150, help="3 steps each: 48 crops, batch 16")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--patience", type=int, default=30)
    args = parser.parse_args()
    image = np.asarray(Image.open(Path(args.data) / "img2d.tif"))
    mask = np.asarray(Image.open(Path(args.data) / "mask2d.tif"))
    if image.max() > 255:
        raise SystemExit("expected the DSB crop's 0..235 values")
    out = Path(args.out)
    n_train, n_val = write_crops(image, mask, out / "crops")
    print(f"{n_train} training and {n_val} validation crops of {CROP}x{CROP}")
    train_and_compare(out, DataConfig(source=str(out / "crops")), "small", args.epochs, boundary=False,
                      calibration=n_train, learning_rate=args.lr, patience=args.patience)


if __name__ == "__main__":
    main()
