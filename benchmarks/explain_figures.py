"""Figures for issue 25: compress --explain on the 128x128 seed U-Net and on a model where int8 hurts
(benchmarks/explain_hurt.py: enc1_conv1's strongest channel rescaled by 256, function-preserving).

Usage: PYTHONPATH=. python benchmarks/explain_figures.py SEED128.keras OUTDIR [--formats tflite]"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from edgeseg.compress.pipeline import compress
from edgeseg.config import CompressConfig
from edgeseg.models.io import load_model, save_model, stored_training_data

from explain_hurt import rescaled


def summary(report: dict) -> dict:
    rows = {}
    for a in report["artifacts"]:
        ex = a.get("explain") or {}
        rows[a["path"]] = {"method": a.get("method"), "dice": a["dice"], "bytes": a["bytes"],
                           "attempts": [(t["method"], t["dice"], t["seconds"]) for t in a.get("attempts", [])],
                           "explain_seconds": ex.get("seconds"), "repair": {k: v for k, v in (ex.get("repair") or {})
                                                                            .items() if k != "steps"}}
    return {"float_dice": report["baseline"]["dice"], "timings": report["timings"], "artifacts": rows}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("seed")
    p.add_argument("out")
    p.add_argument("--formats", default="tflite")
    p.add_argument("--only", choices=("seed", "hurt"), default=None)
    p.add_argument("--tag", default="", help="appended to each output folder's name")
    a = p.parse_args()
    out = Path(a.out)
    hurt = out / "hurt128.keras"
    if not hurt.exists():
        model, spec = load_model(Path(a.seed))
        model, channel = rescaled(model, "enc1_conv1", 256.0)
        save_model(model, spec, hurt, force=True, trained_on=stored_training_data(Path(a.seed)))
    for name, path in (("hurt", hurt), ("seed", Path(a.seed))):
        if a.only and a.only != name:
            continue
        start = time.perf_counter()
        report = compress(path, CompressConfig(formats=a.formats, explain=True, verbose=1), out / f"{name}{a.tag}_out",
                          force=True)
        print(name, f"{time.perf_counter() - start:.0f} s", json.dumps(summary(report), indent=1), flush=True)


if __name__ == "__main__":
    main()
