"""Benchmark: compression on a small real dataset (issue 13), the regime users live in.

Data: scikit-image's bundled immunohistochemistry image (`skimage.data.immunohistochemistry()`,
512x512 RGB, shipped inside the wheel: no download). It has no masks, so the mask is derived
classically: the DAB (brown stain) channel of a haematoxylin-eosin-DAB colour deconvolution
(`skimage.color.rgb2hed`), Gaussian smoothing (sigma 3), Otsu's threshold, opening with a disk
of radius 3, and removal of objects and holes under 200 pixels. The task is "find the
DAB-stained epithelium". Tiles are 128x128: the top 384 rows give 35 training tiles (stride
64), the bottom 128 rows 7 validation tiles (stride 64) that overlap no training tile.

`--dataset dsb` uses hand-annotated masks instead (issue 23: a rule-derived mask can be relearned
by a heavily pruned network, a hand-drawn one cannot): the 2018 Data Science Bowl nuclei image
the stardist wheel ships (stardist/data/images/img2d.tif, 512x512 fluorescence, its hand-drawn
instance labels mask2d.tif made binary: label > 0), cut into the same tiles (35 train, 7 val).
Get it without installing stardist:
    pip download stardist==0.9.2 --no-deps -d /tmp/sd && cd /tmp/sd && unzip -o *.whl 'stardist/data/*'

Model: the seed U-Net at 128x128 (grayscale input), trained once and cached under OUT/.
Then compress variants run with their default fine-tuning settings.

Usage: .venv/bin/python benchmarks/small_data.py [--dataset ihc|dsb] [--out .edgeseg/small_data]
       [--variants channels,magnitude]
       [--seeds 0,1] [--synthetic]   (--synthetic: the seed preset at 128x128 on 256/32 synthetic images)
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
SYNTHETIC = (256, 32)  # --synthetic: training / validation images of the built-in generator


def stained_mask(rgb: np.ndarray) -> np.ndarray:
    """The documented classical mask: DAB channel, smoothing, Otsu, morphology."""
    from skimage import color, filters, morphology

    dab = filters.gaussian(color.rgb2hed(rgb)[..., 2], sigma=3)
    mask = morphology.binary_opening(dab > filters.threshold_otsu(dab), morphology.disk(3))
    mask = morphology.remove_small_objects(mask, 200)
    return morphology.remove_small_holes(mask, 200)


def tiles(height: int, width: int, top: int, bottom: int) -> list[tuple[int, int]]:
    return [(r, c) for r in range(top, bottom - TILE + 1, STRIDE) for c in range(0, width - TILE + 1, STRIDE)]


def rule_derived_ihc(_: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """scikit-image's IHC image and its rule-derived DAB mask (labelled as such in RESULTS.md)."""
    from skimage import data

    rgb = data.immunohistochemistry()
    return rgb, stained_mask(rgb)


def hand_annotated_dsb(folder: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """The DSB2018 nuclei image and its hand-drawn instance labels, made binary."""
    folder = folder or Path("/tmp/sd/stardist/data/images")
    image = np.asarray(Image.open(folder / "img2d.tif"))
    labels = np.asarray(Image.open(folder / "mask2d.tif"))
    if image.max() > 255:
        raise SystemExit("expected the DSB image's 0..235 values")
    return image.astype(np.uint8), labels > 0


DATASETS = {"ihc": rule_derived_ihc, "dsb": hand_annotated_dsb}


def write_dataset(out: Path, dataset: str = "ihc", source: Path | None = None) -> Path:
    """OUT/data/{train,val}/{images,masks}/*.png; written once."""
    root = out / "data"
    if (root / "val" / "masks").is_dir():
        return root
    rgb, mask = DATASETS[dataset](source)
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


def data_config(data_dir: Path | None, seed: int = 0):
    """The real tiles, or (data_dir None) the built-in synthetic data at its benchmark size."""
    from edgeseg.config import DataConfig

    if data_dir is None:
        return DataConfig(synthetic_train=SYNTHETIC[0], synthetic_val=SYNTHETIC[1], seed=seed)
    return DataConfig(source=str(data_dir), seed=seed)


def train_model(out: Path, data_dir: Path | None, epochs: int) -> Path:
    from edgeseg.config import ModelConfig, TrainConfig
    from edgeseg.training import train

    path = out / ("seed128.keras" if data_dir else "seed128_synthetic.keras")
    if path.is_file():
        return path
    config = TrainConfig(model=ModelConfig(preset="seed", height=TILE, width=TILE),
                         data=data_config(data_dir), epochs=epochs, batch_size=8,
                         learning_rate=1e-3, patience=20, verbose=1)
    start = time.perf_counter()
    result = train(config, path)
    print(f"trained {path} in {time.perf_counter() - start:.0f} s: best epoch {result.best_epoch} of "
          f"{result.epochs_run}, val Dice {result.val_scores['dice']:.4f}")
    return path


# name -> CompressConfig overrides; everything else is compress's default.
VARIANTS: dict[str, dict] = {
    "ptq": dict(prune="none"),
    "channels": dict(prune="channels", channel_ratio=0.5),
    "magnitude": dict(prune="magnitude", sparsity=0.5),  # what --prune magnitude means
    "channels_distill": dict(prune="channels", channel_ratio=0.5, distill=0.5),
    "magnitude_distill": dict(prune="magnitude", sparsity=0.5, distill=0.5),
    # distillation against plain fine-tuning at equal steps (no early stop), where recovery is hard
    "channels75_fixed": dict(prune="channels", channel_ratio=0.75, finetune_steps=150, finetune_min_steps=150),
    "channels75_fixed_distill": dict(prune="channels", channel_ratio=0.75, finetune_steps=150, finetune_min_steps=150,
                                     distill=0.5),
    "auto": dict(prune="auto"),
}


def run_variant(name: str, model: Path, data_dir: Path | None, out: Path, seed: int) -> dict:
    """compress with the variant's settings; the figures that the targets read."""
    from edgeseg.compress.pipeline import compress
    from edgeseg.config import CompressConfig

    target = out / ((name if seed == 0 else f"{name}_seed{seed}") + ("" if data_dir else "_synthetic"))
    config = CompressConfig(data=data_config(data_dir, seed), seed=seed, **VARIANTS[name])
    start = time.perf_counter()
    report = compress(model, config, target, force=True).to_dict()  # summarized as JSON
    seconds = time.perf_counter() - start
    base = report["baseline"]["dice"]
    rows = {a["path"]: a for a in report["artifacts"]}
    source = report.get("channels") or report.get("pruning") or {}
    int8 = rows.get("model_channels_int8.tflite") or rows.get("model_pruned_int8.tflite") or rows["model_int8.tflite"]
    tuned = source.get("finetune") or {}
    return {"variant": name, "seed": seed, "float_dice": round(base, 4), "seconds": round(seconds, 1),
            "pruned_float_dice": round(source["dice"], 4) if source else None,
            "finetune_steps": tuned.get("steps"), "stopped_because": tuned.get("stopped_because"),
            "dice_curve": tuned.get("dice_curve"), "int8_artifact": int8["path"], "int8_dice": round(int8["dice"], 4),
            "int8_ratio": round(int8["dice"] / base, 4), "int8_method": int8["method"],
            "deployable": int8["deployable"], "search": report.get("search"),
            "timed": timed(target, data_dir) if name == "auto" else None}


def timed(target: Path, data_dir: Path | None) -> dict:
    """`edgeseg bench` on litert-cpu, 2 threads: plain int8 against the winner, interleaved."""
    from edgeseg.bench.run import bench
    from edgeseg.config import BenchConfig

    report = bench([target], BenchConfig(data=data_config(data_dir), runtimes=("litert-cpu",), threads=2,
                                         min_time=10.0, min_runs=50))
    p50 = {r.artifact: r.p50_ms for r in report.rows if r.status == "ok"}
    figures = {"p50_ms": p50}
    if "model_channels_int8.tflite" in p50:
        figures["speedup_vs_int8"] = round(p50["model_int8.tflite"] / p50["model_channels_int8.tflite"], 3)
    return figures


# Recovery methods compared at equal steps (no early stop): pruned float Keras Dice on the
# validation tiles. name -> prune_channels_and_finetune keyword arguments.
METHODS: dict[str, dict] = {
    "plain": {},
    "distill": {"distill_weight": 0.5},
    "taylor": {"criterion": "taylor"},
    "rounds3": {"rounds": 3},
    "taylor_distill": {"criterion": "taylor", "distill_weight": 0.5},
    "taylor_rounds3": {"criterion": "taylor", "rounds": 3},
    # + the "unlabeled frames": 117 tiles at stride 32 from the training rows, images only
    "taylor_distill_unlabeled": {"criterion": "taylor", "distill_weight": 0.5, "unlabeled": True},
}


def write_unlabeled(out: Path) -> Path:
    """OUT/unlabeled/*.png: tiles at stride 32 from the training rows only (no validation pixel)."""
    from skimage import data

    root = out / "unlabeled"
    if root.is_dir():
        return root
    rgb = data.immunohistochemistry()
    staging = out / ".unlabeled_tmp"
    staging.mkdir(parents=True, exist_ok=True)
    corners = [(r, c) for r in range(0, TRAIN_ROWS - TILE + 1, 32) for c in range(0, rgb.shape[1] - TILE + 1, 32)]
    for n, (r, c) in enumerate(corners):
        Image.fromarray(rgb[r:r + TILE, c:c + TILE]).save(staging / f"{n:03d}.png")
    staging.replace(root)
    return root


def compare_methods(model_path: Path, data_dir: Path | None, ratio: float, steps: int, seeds: list[int],
                    methods: list[str]) -> list[dict]:
    """Fine-tunes the channel-pruned model once per method and seed at a fixed step count."""
    from edgeseg.prune.gradual import prune_channels_and_finetune
    from edgeseg.data.dataset import load_splits
    from edgeseg.scoring.predictors import evaluate_predictor, keras_predictor
    from edgeseg.training.finetune import FinetuneBudget
    from edgeseg.models.io import load_model

    model, spec = load_model(model_path)
    base = None
    rows = []
    for seed in seeds:
        train, val = load_splits(data_config(data_dir, seed), spec)
        base = base or evaluate_predictor(keras_predictor(model, 8), val, 8)["dice"]
        for name in methods:
            extra = dict(METHODS[name])
            if "distill_weight" in extra:
                extra["teacher"] = model
            if extra.pop("unlabeled", False):
                from edgeseg.data.unlabeled import unlabeled_batches

                folder = write_unlabeled(model_path.parent)
                extra["unlabeled"] = lambda: unlabeled_batches(folder, spec, 8, seed)
            start = time.perf_counter()
            result = prune_channels_and_finetune(model, train, val, ratio, FinetuneBudget(steps, steps), 8,
                                                 spec.classes, None, seed, 0, **extra)
            final = evaluate_predictor(keras_predictor(result.model, 8), val, 8)["dice"]
            rows.append({"method": name, "seed": seed, "ratio": ratio, "steps": result.finetune.steps,
                         "float_dice": round(base, 4), "best_dice": round(result.finetune.best_dice, 4),
                         "best_ratio": round(result.finetune.best_dice / base, 4), "kept_dice": round(final, 4),
                         "curve": result.finetune.dice_curve, "seconds": round(time.perf_counter() - start, 1)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=None, help="default .edgeseg/small_data (ihc) or .edgeseg/small_data_dsb")
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="ihc",
                        help="ihc: rule-derived masks; dsb: hand-annotated nuclei (stardist's DSB2018 crop)")
    parser.add_argument("--dsb", type=Path, default=None, help="folder of img2d.tif and mask2d.tif (--dataset dsb)")
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--train-only", action="store_true")
    parser.add_argument("--synthetic", action="store_true",
                        help="the seed preset on the built-in synthetic data instead of the real tiles")
    parser.add_argument("--variants", default="channels,magnitude", help=f"comma list of {', '.join(VARIANTS)}")
    parser.add_argument("--seeds", default="0", help="comma list of fine-tuning seeds")
    parser.add_argument("--compare", default=None, metavar="METHODS",
                        help=f"instead of compress variants: compare recovery methods ({', '.join(METHODS)}) at "
                             "equal steps")
    parser.add_argument("--ratio", type=float, default=0.75, help="--compare: channel ratio")
    parser.add_argument("--steps", type=int, default=150, help="--compare: fine-tuning steps")
    args = parser.parse_args()
    out = Path(args.out or (".edgeseg/small_data" if args.dataset == "ihc" else f".edgeseg/small_data_{args.dataset}"))
    out.mkdir(parents=True, exist_ok=True)
    data_dir = None if args.synthetic else write_dataset(out, args.dataset, args.dsb)
    model = train_model(out, data_dir, 10 if args.synthetic else args.epochs)
    if args.train_only:
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.compare:
        rows = compare_methods(model, data_dir, args.ratio, args.steps, seeds, args.compare.split(","))
        name = (f"compare_{args.compare.replace(',', '+')}_{args.ratio}_{args.steps}"
                f"{'_synthetic' if args.synthetic else ''}")
        (out / f"{name}.json").write_text(json.dumps(rows, indent=2) + "\n")
        for r in rows:
            print(f"{r['method']:<8} seed {r['seed']}: best {r['best_dice']:.4f} ({r['best_ratio']:.4f}x of "
                  f"{r['float_dice']:.4f}) after {r['steps']} steps, {r['seconds']:.0f} s")
        return
    results = []
    for seed in seeds:
        for name in args.variants.split(","):
            results.append(run_variant(name, model, data_dir, out, seed))
            print(json.dumps(results[-1]), flush=True)
    summary = out / f"summary_{args.variants.replace(',', '+')}{'_synthetic' if args.synthetic else ''}.json"
    summary.write_text(json.dumps(results, indent=2) + "\n")
    for r in results:
        print(f"{r['variant']:<18} seed {r['seed']}: float {r['float_dice']:.4f}, pruned float "
              f"{r['pruned_float_dice']}, {r['finetune_steps']} steps, int8 {r['int8_dice']:.4f} "
              f"({r['int8_ratio']:.4f}x, {r['int8_method']}), {r['seconds']:.0f} s")


if __name__ == "__main__":
    main()
