"""Benchmark (issue 16, compress side): `edgeseg compress` on instance U-Nets, judged by PQ.

Trains the small instance U-Net (as instance_small.py / instance_dsb.py do), then runs the
compress pipeline (the same code as `edgeseg compress MODEL --data DATA`) and reports, from its
report.json, the float model's PQ/F1@0.5 against the shipped (recommended) int8 TFLite and ONNX
artifacts', with the remedy the guard used (ptq, float-head, retuned-decoding) and every attempt.

  synthetic touching objects:  --dataset synthetic  (512 train / 64 val synthetic images, 64x64)
  real nuclei (DSB2018 crop):  --dataset dsb --data DIR_WITH_img2d.tif  (see instance_dsb.py for the files)

With `--prune channels [--channel-ratio R]` compress also channel-prunes the model (fine-tuned
with the instance loss, early-stopped by validation PQ) and the script times the pruned int8
TFLite against the plain int8 TFLite, interleaved in one run (litert-cpu, 2 threads).

Usage: PYTHONPATH=. .venv/bin/python benchmarks/instance_compress.py --dataset dsb --data /tmp/sd/stardist/data/images
       [--model trained.keras to skip training] [--out .edgeseg/instance_compress_dsb]
       [--prune channels --channel-ratio 0.5 --finetune-steps 300 --channel-criterion taylor --timing-size 256]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from edgeseg.compress.pipeline import compress
from edgeseg.config import CompressConfig, DataConfig, ModelConfig, TrainConfig
from edgeseg.training import train
from instance_dsb import write_crops

# dataset -> (train settings as instance_small.py / instance_dsb.py use them)
TRAINING = {
    "synthetic": {"epochs": 15, "learning_rate": 3e-3, "patience": 5},
    "dsb": {"epochs": 150, "learning_rate": 1e-3, "patience": 30},
}


def dataset(name: str, data: str | None, out: Path) -> DataConfig:
    if name == "synthetic":
        return DataConfig(synthetic_train=512, synthetic_val=64)
    image = np.asarray(Image.open(Path(data) / "img2d.tif"))
    mask = np.asarray(Image.open(Path(data) / "mask2d.tif"))
    n_train, n_val = write_crops(image, mask, out / "crops")
    print(f"{n_train} training and {n_val} validation crops")
    return DataConfig(source=str(out / "crops"))


def trained_model(name: str, data: DataConfig, out: Path) -> tuple[Path, float]:
    path = out / "instance.keras"
    start = time.perf_counter()
    train(TrainConfig(model=ModelConfig(preset="small", task="instance"), data=data, batch_size=16, verbose=0,
                      **TRAINING[name]), path, force=True)
    return path, time.perf_counter() - start


def summary(report: dict) -> dict:
    base = report["baseline"]
    rows = {a["path"]: a for a in report["artifacts"]}
    shipped = {}
    for fmt, pick in report["recommended"].items():
        row = rows[pick["path"]]
        shipped[fmt] = {"path": row["path"], "method": row["method"], "precision": row["precision"],
                        "pq": row["pq"], "f1": row["f1"], "pq_minus_float": row["pq"] - base["pq"],
                        "f1_minus_float": row["f1"] - base["f1"], "agreement_pq": row["agreement_pq"],
                        "decode": row.get("decode"),
                        "pq_held_out": row.get("pq_held_out"), "f1_held_out": row.get("f1_held_out"),
                        "decided_by": row.get("decided_by"),
                        "attempts": [{k: a.get(k) for k in ("method", "pq", "f1", "pq_held_out", "f1_held_out",
                                                            "met_budget")}
                                     for a in row.get("attempts", [])]}
    return {"float": {k: base[k] for k in ("pq", "sq", "rq", "f1", "aji", "count_mae", "images")},
            "decode": report["instance"]["decode"], "shipped": shipped,
            "int8_rows": {p: {"method": a["method"], "pq": a["pq"], "f1": a["f1"], "deployable": a["deployable"],
                              "pq_held_out": a.get("pq_held_out"), "decided_by": a.get("decided_by"),
                              "attempts": [{k: t.get(k) for k in ("method", "pq", "f1", "pq_held_out", "f1_held_out")}
                                           for t in a.get("attempts", [])]}
                          for p, a in rows.items() if a["precision"] in ("int8", "int8+float")}}


def held_out_text(row: dict) -> str:
    """The held-out PQ/F1 of a re-tuned attempt or artifact (empty for the others)."""
    if row.get("pq_held_out") is None:
        return ""
    return f" [held-out PQ {row['pq_held_out']:.4f} F1 {row.get('f1_held_out') or 0:.4f}]"


def at_size(model, size: int | None):
    """The fully convolutional `model` rebuilt for size x size inputs with the same weights (for
    timing at a deployment resolution; None: as it is)."""
    if size is None or model.input_shape[1] == size:
        return model
    from edgeseg.backend import keras

    k = keras()
    clone = k.models.clone_model(model, input_tensors=k.Input((size, size, model.input_shape[-1])))
    clone.set_weights(model.get_weights())
    return clone


def upsampled(images: np.ndarray, size: int | None) -> np.ndarray:
    """Images repeated up to size x size (nearest), for calibrating and timing a resized clone."""
    factor = 1 if size is None else size // images.shape[1]
    return images.repeat(factor, axis=1).repeat(factor, axis=2)


def plain_int8(model_path: Path, calibration: np.ndarray, path: Path, size: int | None = None) -> Path:
    """Plain post-training full-int8 (int8 I/O) of a Keras file, as compress's ptq rung makes it."""
    from edgeseg.artifacts.tflite import finalize
    from edgeseg.models.io import load_model
    from edgeseg.quantize.tflite_int8 import calibrate, quantize_calibrated

    model, spec = load_model(model_path)
    resized = at_size(model, size)
    data = quantize_calibrated(calibrate(resized, upsampled(calibration, size)))
    path.write_bytes(data if resized is not model else finalize(data, spec.to_dict()))
    return path


def pruned_timing(out: Path, model: Path, calibration: np.ndarray, image: np.ndarray, threads: int = 2,
                  size: int | None = None) -> dict:
    """p50 ms of plain int8 (ptq) of the base and of the channel-pruned model (at `size` when
    given), and of the base's shipped int8 TFLite (at its own size only), timed in interleaved
    rounds in one run, with the load average at the time."""
    import os

    from edgeseg.search.timing import measure_interleaved
    from edgeseg.runtimes.litert import LiteRTSession

    paths = {"int8": plain_int8(model, calibration, out / "timing_base_ptq_int8.tflite", size),
             "channels_int8": plain_int8(out / "compressed" / "channels.keras", calibration,
                                         out / "timing_channels_ptq_int8.tflite", size)}
    if size is None:
        paths["shipped_int8"] = out / "compressed" / "model_int8.tflite"
    p50 = measure_interleaved(list(paths.values()), lambda p: LiteRTSession(p, threads=threads),
                              upsampled(image, size), min_seconds=10.0)
    timed = {f"{name}_p50_ms": round(ms, 4) for name, ms in zip(paths, p50)}
    return {"runtime": "litert-cpu", "threads": threads, "input": list(upsampled(image, size).shape[1:3]), **timed,
            "speedup": round(p50[0] / p50[1], 3), "load_average": [round(x, 2) for x in os.getloadavg()]}


def channels_summary(report: dict) -> dict:
    c = report["channels"]
    return {k: c.get(k) for k in ("ratio", "pq", "f1", "dice", "flops_ratio", "parameters", "parameters_before",
                                  "kept_filters")} | {"finetune": {k: c["finetune"].get(k) for k in (
                                      "steps", "metric", "best_dice", "best_step", "stopped_because", "seconds")}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", choices=tuple(TRAINING), required=True)
    parser.add_argument("--data", help="dsb: the directory holding img2d.tif and mask2d.tif")
    parser.add_argument("--model", help="an instance model trained already on the same data (skips training)")
    parser.add_argument("--out", default=None)
    parser.add_argument("--prune", choices=("none", "channels"), default="none")
    parser.add_argument("--channel-ratio", type=float, default=0.5)
    parser.add_argument("--finetune-steps", type=int, default=300, help="the pruning fine-tuning's maximum")
    parser.add_argument("--channel-criterion", choices=("taylor", "l1"), default="taylor")
    parser.add_argument("--timing-size", type=int, default=None,
                        help="also time both int8 networks rebuilt for NxN inputs (same weights)")
    args = parser.parse_args()
    out = Path(args.out or f".edgeseg/instance_compress_{args.dataset}")
    out.mkdir(parents=True, exist_ok=True)
    data = dataset(args.dataset, args.data, out)
    model, train_s = (Path(args.model), 0.0) if args.model else trained_model(args.dataset, data, out)
    start = time.perf_counter()
    config = CompressConfig(data=data, verbose=1, prune=args.prune, channel_ratio=args.channel_ratio,
                            finetune_steps=args.finetune_steps, channel_criterion=args.channel_criterion)
    report = compress(model, config, out / "compressed", force=True).to_dict()  # summarized as JSON
    result = {"dataset": args.dataset, "train_seconds": round(train_s, 1),
              "compress_seconds": round(time.perf_counter() - start, 1), **summary(report)}
    if args.prune == "channels":
        from edgeseg.data.instance_data import load_task_splits
        from edgeseg.models.io import load_model

        _, spec = load_model(model)
        train_data, val_data = load_task_splits(data, spec)
        calibration = train_data.batch(range(min(64, len(train_data))))[0]  # compress's default sample count
        result["channels"] = channels_summary(report)
        image = val_data.batch([0])[0].astype(np.float32)
        result["timing"] = pruned_timing(out, model, calibration, image)
        if args.timing_size:
            result["timing_resized"] = pruned_timing(out, model, calibration, image, size=args.timing_size)
    (out / "summary.json").write_text(json.dumps(result, indent=2))
    f = result["float"]
    print(f"\nfloat (Keras): PQ {f['pq']:.4f}  F1@0.5 {f['f1']:.4f}  ({f['images']} validation images)")
    for path, row in result["int8_rows"].items():
        tried = ", ".join(f"{a['method']} PQ {a['pq']:.4f} F1 {a['f1']:.4f}{held_out_text(a)}" for a in row["attempts"])
        print(f"{path}: {tried}")
    for fmt, s in result["shipped"].items():
        tried = ", ".join(f"{a['method']} PQ {a['pq']:.4f}" for a in s["attempts"])
        print(f"shipped {fmt}: {s['path']} ({s['method']}): PQ {s['pq']:.4f} ({s['pq_minus_float']:+.4f})  "
              f"F1@0.5 {s['f1']:.4f} ({s['f1_minus_float']:+.4f}){held_out_text(s)}, decided by {s['decided_by']}  "
              f"tried: {tried}")
    if "channels" in result:
        c, t = result["channels"], result["timing"]
        print(f"channel-pruned float (Keras): PQ {c['pq']:.4f}  F1@0.5 {c['f1']:.4f}  {c['flops_ratio']:.2f}x FLOPs; "
              f"fine-tuned {c['finetune']['steps']} steps ({c['finetune']['stopped_because']})")
        print(f"litert-cpu {t['threads']} threads, interleaved, p50: plain int8 {t['int8_p50_ms']} ms, channel-pruned "
              f"int8 {t['channels_int8_p50_ms']} ms ({t['speedup']}x faster), the base's shipped int8 "
              f"{t['shipped_int8_p50_ms']} ms; load average {t['load_average']}")
        if "timing_resized" in result:
            t = result["timing_resized"]
            print(f"at {t['input'][0]}x{t['input'][1]} (same weights), p50: plain int8 {t['int8_p50_ms']} ms, "
                  f"channel-pruned int8 {t['channels_int8_p50_ms']} ms ({t['speedup']}x faster); "
                  f"load average {t['load_average']}")


if __name__ == "__main__":
    main()
