"""Benchmark (issue 16, compress side): `edgeseg compress` on instance U-Nets, judged by PQ.

Trains the small instance U-Net (as instance_small.py / instance_dsb.py do), then runs the
compress pipeline (the same code as `edgeseg compress MODEL --data DATA`) and reports, from its
report.json, the float model's PQ/F1@0.5 against the shipped (recommended) int8 TFLite and ONNX
artifacts', with the remedy the guard used (ptq, float-head, retuned-decoding) and every attempt.

  synthetic touching objects:  --dataset synthetic  (512 train / 64 val synthetic images, 64x64)
  real nuclei (DSB2018 crop):  --dataset dsb --data DIR_WITH_img2d.tif  (see instance_dsb.py for the files)

Usage: PYTHONPATH=. .venv/bin/python benchmarks/instance_compress.py --dataset dsb --data /tmp/sd/stardist/data/images
       [--model trained.keras to skip training] [--out .edgeseg/instance_compress_dsb]
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", choices=tuple(TRAINING), required=True)
    parser.add_argument("--data", help="dsb: the directory holding img2d.tif and mask2d.tif")
    parser.add_argument("--model", help="an instance model trained already on the same data (skips training)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    out = Path(args.out or f".edgeseg/instance_compress_{args.dataset}")
    out.mkdir(parents=True, exist_ok=True)
    data = dataset(args.dataset, args.data, out)
    model, train_s = (Path(args.model), 0.0) if args.model else trained_model(args.dataset, data, out)
    start = time.perf_counter()
    report = compress(model, CompressConfig(data=data, verbose=1), out / "compressed", force=True)
    result = {"dataset": args.dataset, "train_seconds": round(train_s, 1),
              "compress_seconds": round(time.perf_counter() - start, 1), **summary(report)}
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


if __name__ == "__main__":
    main()
