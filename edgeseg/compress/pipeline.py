"""compress: baseline -> prune -> quantize (guarded) -> export -> verify -> report.

Everything is written into a temporary directory that replaces OUT only when the run
succeeds, so an interrupted or failed run leaves nothing half-written."""
from __future__ import annotations

import functools
import hashlib
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import numpy as np

from ..config import CompressConfig
from ..data.dataset import SegmentationData, load_splits
from ..evaluate import evaluate_predictor, format_scores, keras_predictor, memoized
from ..models.io import load_model, save_model
from ..outputs import atomic_output_dir, check_output_dir
from .guard import Guarded, guard
from .remedies import METHODS, PRECISION, Remedies
from .report import SCHEMA, render_terminal, write_reports
from .verify import Verified, gzip_size, verify


def default_out_dir(model_path: Path) -> Path:
    return Path(model_path).with_name(f"{Path(model_path).stem}_edgeseg")


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _calibration(train: SegmentationData, count: int, batch_size: int) -> np.ndarray:
    return np.concatenate([images for images, _ in train.batches(batch_size, limit=count)])


class _Run:
    """Progress lines and step timings for one compress run."""

    def __init__(self, verbose: int, total_steps: int):
        self.verbose, self.total, self.done, self.timings = verbose, total_steps, 0, {}

    def log(self, text: str) -> None:
        if self.verbose:
            print(text, flush=True)

    @contextmanager
    def step(self, key: str, title: str):
        self.done += 1
        self.log(f"[{self.done}/{self.total}] {title}")
        start = time.perf_counter()
        yield
        self.timings[key] = round(time.perf_counter() - start, 2)
        self.log(f"      done in {self.timings[key]:.1f} s")


def _row(out: Path, path: Path, fmt: str, precision: str, verified: Verified | None, baseline_dice: float,
         budget: float, sparsity: float | None = None, deployable: bool | None = None, reason: str = "",
         **extra) -> dict:
    scores = verified.scores if verified else {}
    dice = scores.get("dice")
    if deployable is None:
        deployable = dice is not None and dice >= baseline_dice - budget
        if not reason:
            reason = "within budget" if deployable else f"Dice {dice:.4f} drops more than {budget} from {baseline_dice:.4f}"
    row = {"path": str(path.relative_to(out)), "format": fmt, "precision": precision, "sparsity": sparsity,
           "bytes": path.stat().st_size, "gzip_bytes": gzip_size(path), "dice": dice, "iou": scores.get("iou"),
           "dice_per_image": scores.get("dice_per_image"), "max_abs_diff": scores.get("max_abs_diff"),
           "runtime": verified.runtime if verified else None,
           "load_seconds": round(verified.load_seconds, 3) if verified else None,
           "deployable": bool(deployable), "reason": reason}
    if "dice_per_class" in scores:
        row["dice_per_class"] = scores["dice_per_class"]
    row.update(extra)
    return row


def _guarded_row(out: Path, g: Guarded, fmt: str, baseline_dice: float, budget: float,
                 sparsity_of=None, **extra) -> dict | None:
    if g.path is None:
        return None
    sparsity = sparsity_of(g.verified.session) if sparsity_of else None
    return _row(out, g.path, fmt, PRECISION.get(g.method, "int8"), g.verified, baseline_dice, budget,
                sparsity=sparsity, deployable=g.deployable, reason=g.reason, method=g.method,
                attempts=[a.to_dict() for a in g.attempts], **extra)


def compress(model_path: Path, config: CompressConfig, out: Path, force: bool = False) -> dict:
    """Runs the whole pipeline and returns the report (also written to OUT/report.json)."""
    from ..export.onnx import add_spec, export_onnx, quantize_onnx_int8
    from ..export.tflite import convert_dynamic_range, convert_float16, convert_float32, finalize
    from ..backend import set_seed
    from .prune import prune, tflite_kernel_sparsity
    from .qat import quantization_aware

    model_path, out = Path(model_path), Path(out)
    check_output_dir(out, force)
    set_seed(config.seed)
    pruning = config.sparsity > 0
    run = _Run(config.verbose, 5 + pruning + config.edgetpu)
    budget, bs = config.max_dice_drop, config.batch_size

    with run.step("load", f"loading {model_path}"):
        model, spec = load_model(model_path, config.normalize, config.unsafe, config.custom_objects)
        source_hash = _sha256(model_path)
        train, val = load_splits(config.data, spec)
        if config.data.is_synthetic:
            run.log("      warning: no --data given; using built-in synthetic data. Real data gives real numbers.")
        run.log(f"      input {spec.height}x{spec.width}x{spec.channels}, {spec.classes} class(es), "
                f"normalize {spec.normalize}; {len(train)} train / {len(val)} val images")
        calibration = _calibration(train, config.calibration_samples, bs)
        more_calibration = functools.cache(lambda: _calibration(train, 4 * config.calibration_samples, bs))
    reference = memoized(keras_predictor(model, bs))
    spec_dict = spec.to_dict()

    with run.step("baseline", "baseline: float Keras model on the validation data"):
        baseline = evaluate_predictor(reference, val, bs)
        run.log("      " + format_scores(baseline))
    base_dice = baseline["dice"]

    def qat_factory(source, preserve):
        return lambda: quantization_aware(source, train, config.qat_epochs, bs, spec.classes, preserve,
                                          config.seed, config.verbose)

    rows: list[dict] = []
    pruning_info = edgetpu_info = None
    with atomic_output_dir(out, force) as tmp:
        pruned = None
        if pruning:
            with run.step("prune", f"pruning to {config.sparsity:.0%} sparsity "
                                   f"({config.finetune_epochs} fine-tuning epochs)"):
                pruned = prune(model, train, config.sparsity, config.finetune_epochs, bs, spec.classes,
                               config.seed, config.verbose, config.finetune_lr)
                save_model(pruned.model, spec, tmp / "pruned.keras")
                pruned_scores = evaluate_predictor(keras_predictor(pruned.model, bs), val, bs)
                pruning_info = {"target": config.sparsity, "sparsity_model": pruned.sparsity,
                                "steps": pruned.steps, "dice": pruned_scores["dice"], "iou": pruned_scores["iou"],
                                "kept_dense": pruned.kept_dense, "path": "pruned.keras"}
                run.log(f"      measured sparsity {pruned.sparsity:.4f}; pruned Keras " + format_scores(pruned_scores))

        with run.step("tflite_float", "TFLite float32, float16 and dynamic-range: convert and verify in LiteRT"):
            for name, convert, precision in (("float32", convert_float32, "float32"),
                                             ("float16", convert_float16, "float16"),
                                             ("dynamic_range", convert_dynamic_range, "int8-weights")):
                path = tmp / f"model_{name}.tflite"
                path.write_bytes(finalize(convert(model), spec_dict))
                verified = verify(path, val, reference, bs)
                rows.append(_row(tmp, path, "tflite", precision, verified, base_dice, budget,
                                 sparsity=tflite_kernel_sparsity(verified.session)))
                run.log(f"      {path.name}: Dice {verified.scores['dice']:.4f}")

        with run.step("tflite_int8", "TFLite int8 (full integer): quantize, verify in LiteRT, guard the budget"):
            def int8_artifact(title, remedies, filename, methods=None, integer_io=True, against=reference, **extra):
                run.log(f"  {title}:")
                chain = remedies.chain(integer_io, methods) if methods else remedies.chain(integer_io)
                chain = [(m, lambda c=c: finalize(c(), spec_dict)) for m, c in chain]
                g = guard(chain, tmp / filename, val, against, base_dice, budget, bs, run.log)
                row = _guarded_row(tmp, g, "tflite", base_dice, budget, tflite_kernel_sparsity,
                                   io="int8" if integer_io else "float", **extra)
                if row is not None:
                    rows.append(row)
                return g, row

            remedies = Remedies(model, calibration, more_calibration, qat_factory(model, False))
            g, _ = int8_artifact("int8 (int8 input/output)", remedies, "model_int8.tflite")
            if g.method:
                int8_artifact(f"int8 with float input/output ({g.method})", remedies, "model_int8_float_io.tflite",
                              methods=(g.method,), integer_io=False)
            if config.qat:
                int8_artifact("quantization-aware training (--qat)", remedies, "model_int8_qat.tflite",
                              methods=("qat",))
            if pruned is not None:
                pruned_remedies = Remedies(pruned.model, calibration, more_calibration,
                                           qat_factory(pruned.model, True))
                # Dice is held to the unpruned baseline; the probability difference is measured
                # against the float model the artifact was made from.
                pruned_kw = dict(against=memoized(keras_predictor(pruned.model, bs)), reference="pruned.keras")
                methods = METHODS[:-1]
                pruning_missed_budget = pruning_info["dice"] < base_dice - budget
                if pruning_missed_budget:
                    # Quantization remedies cannot win back what pruning lost; say so instead.
                    run.log(f"      the pruned float model is already outside the budget (Dice "
                            f"{pruning_info['dice']:.4f}); raise --finetune-epochs or lower --sparsity")
                    methods = ("ptq",)
                targets = [("pruned + int8", "model_pruned_int8.tflite", methods)]
                if config.qat:
                    targets.append(("pruned + pruning-preserving QAT (--qat)", "model_pruned_int8_pqat.tflite",
                                    ("qat",)))
                for title, filename, methods in targets:
                    _, row = int8_artifact(title, pruned_remedies, filename, methods=methods, **pruned_kw)
                    if row and not row["deployable"] and pruning_missed_budget:
                        row["reason"] = (f"pruning alone dropped Dice to {pruning_info['dice']:.4f} (baseline "
                                         f"{base_dice:.4f}, budget {budget}); fine-tune longer or prune less")
                    gap = abs(row["sparsity"] - config.sparsity) if row else 0.0
                    if gap > 0.01 and row["deployable"]:
                        row.update(deployable=False, reason=f"measured sparsity {row['sparsity']:.4f} is "
                                                            f"{gap:.4f} from the target {config.sparsity}")

        if config.edgetpu and (tmp / "model_int8.tflite").is_file():
            with run.step("edgetpu", "Edge TPU: check the int8 model's operations, compile if edgetpu_compiler is here"):
                edgetpu_info = _edgetpu(tmp, config, val, reference, base_dice, budget, bs, run.log, rows)

        with run.step("onnx", f"ONNX float32 (tf2onnx, opset {config.onnx_opset}) and int8 QDQ: verify in onnxruntime"):
            onnx_path = add_spec(export_onnx(model, tmp / "model.onnx", config.onnx_opset), spec_dict)
            rows.append(_row(tmp, onnx_path, "onnx", "float32", verify(onnx_path, val, reference, bs),
                             base_dice, budget, opset=config.onnx_opset))
            run.log(f"      model.onnx: Dice {rows[-1]['dice']:.4f}")
            onnx_remedies = [("ptq", lambda: calibration), ("more-calibration", more_calibration)]
            go = guard([(m, _onnx_int8(onnx_path, tmp, c, quantize_onnx_int8)) for m, c in onnx_remedies],
                       tmp / "model_int8.onnx", val, reference, base_dice, budget, bs, run.log)
            rows.append(_guarded_row(tmp, go, "onnx", base_dice, budget, opset=config.onnx_opset))

        report = {
            "schema": SCHEMA, "model": str(model_path), "model_sha256": source_hash,
            "data": config.data.source, "spec": spec.to_dict(), "config": config.to_dict(),
            "baseline": baseline, "pruning": pruning_info, "edgetpu": edgetpu_info,
            "artifacts": [r for r in rows if r is not None], "timings": run.timings,
        }
        if _sha256(model_path) != source_hash:
            raise RuntimeError(f"{model_path} changed during compress")  # never expected: a bug
        write_reports(report, tmp)
    run.log("")
    run.log(render_terminal(report))
    run.log(f"\nwrote {out}/ (report.json, report.md)")
    return report


def _onnx_int8(float_path: Path, tmp: Path, calibration: Callable[[], np.ndarray], quantize) -> Callable[[], bytes]:
    from ..export.onnx import add_spec, read_spec

    def convert() -> bytes:
        target = tmp / ".int8_candidate.onnx"
        try:
            quantize(float_path, target, calibration())
            add_spec(target, read_spec(float_path))
            return target.read_bytes()
        finally:
            target.unlink(missing_ok=True)

    return convert


def _edgetpu(tmp: Path, config: CompressConfig, val, reference, base_dice: float, budget: float, bs: int,
             log, rows: list[dict]) -> dict:
    from .edgetpu_step import edgetpu_step

    summary, compiled, verified, reason = edgetpu_step(
        tmp / "model_int8.tflite", config.edgetpu_runtime, lambda p: verify(p, val, reference, bs), log)
    if compiled is not None:
        row = _row(tmp, compiled, "edgetpu", "int8", verified, base_dice, budget,
                   deployable=False if verified is None else None, reason=reason)
        rows.append(row)
    return summary
