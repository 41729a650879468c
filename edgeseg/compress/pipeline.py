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
from .guard import guard
from .remedies import METHODS, Remedies
from .report import SCHEMA, render_terminal, write_reports
from .rows import artifact_row, guarded_row
from .tuning import distill_kwargs, finetune_info, pruning_budget, qat_budget, recovery_target, too_little_data
from .verify import verify


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


def compress(model_path: Path, config: CompressConfig, out: Path, force: bool = False) -> dict:
    """Runs the whole pipeline and returns the report (also written to OUT/report.json)."""
    from ..export.onnx import export_onnx, quantize_onnx_int8
    from ..export.tflite import convert_dynamic_range, convert_float16, convert_float32
    from ..tflite_model import finalize
    from ..backend import set_seed
    from ..models.flops import model_flops
    from .channels import prune_channels_and_finetune
    from .prune import prune, tflite_kernel_sparsity
    from .qat import quantization_aware

    model_path, out = Path(model_path), Path(out)
    check_output_dir(out, force)
    set_seed(config.seed)
    channels = config.prune in ("channels", "auto")
    pruning = config.sparsity > 0 and not channels
    run = _Run(config.verbose, 5 + pruning + channels + config.edgetpu)
    budget, bs = config.max_dice_drop, config.batch_size
    finetune_skipped = None

    with run.step("load", f"loading {model_path}"):
        model, spec = load_model(model_path, config.normalize, config.unsafe, config.custom_objects)
        source_hash = _sha256(model_path)
        train, val = load_splits(config.data, spec)
        if config.data.is_synthetic:
            run.log("      warning: no --data given; using built-in synthetic data. Real data gives real numbers.")
        run.log(f"      input {spec.height}x{spec.width}x{spec.channels}, {spec.classes} class(es), "
                f"normalize {spec.normalize}; {len(train)} train / {len(val)} val images")
        calibration = _calibration(train, config.calibration_samples, bs)
        finetune_skipped = too_little_data(len(train), len(val)) if pruning or channels else None
        if finetune_skipped:  # pruning without fine-tuning would only ruin the model
            run.log(f"      skipping pruning: {finetune_skipped}; post-training quantization only")
            pruning = channels = False
            run.total -= 1
        unlabeled = _unlabeled_batches(config, spec, bs) if config.unlabeled else None
        if not (pruning or channels or finetune_skipped):
            run.log("      post-training quantization only (the default); --prune auto searches for a faster "
                    "channel-pruned model within the budget")
        more_calibration = functools.cache(lambda: _calibration(train, 4 * config.calibration_samples, bs))
    reference = memoized(keras_predictor(model, bs))
    spec_dict = spec.to_dict()

    with run.step("baseline", "baseline: float Keras model on the validation data"):
        baseline = evaluate_predictor(reference, val, bs)
        run.log("      " + format_scores(baseline))
    base_dice = baseline["dice"]
    target_dice = recovery_target(base_dice, budget)
    distill = distill_kwargs(config, model, unlabeled)

    def qat_factory(source, preserve):
        return lambda: quantization_aware(source, train, val, qat_budget(config), bs, spec.classes, preserve,
                                          target_dice, config.seed, config.verbose, run.log)

    rows: list[dict] = []
    pruning_info = edgetpu_info = channel_info = search_record = None
    base_flops = model_flops(model)
    baseline["flops"] = base_flops
    with atomic_output_dir(out, force) as tmp:
        pruned = None
        if pruning:
            with run.step("prune", f"pruning to {config.sparsity:.0%} sparsity "
                                   f"(fine-tuning {config.finetune_min_steps}-{config.finetune_steps} steps)"):
                pruned = prune(model, train, val, config.sparsity, pruning_budget(config), bs, spec.classes,
                               target_dice, config.seed, config.verbose, run.log, **distill)
                save_model(pruned.model, spec, tmp / "pruned.keras")
                pruned_reference = memoized(keras_predictor(pruned.model, bs))
                pruned_scores = evaluate_predictor(pruned_reference, val, bs)
                pruning_info = {"target": config.sparsity, "sparsity_model": pruned.sparsity,
                                "steps": pruned.steps, "dice": pruned_scores["dice"], "iou": pruned_scores["iou"],
                                "kept_dense": pruned.kept_dense, "path": "pruned.keras",
                                "finetune": finetune_info(pruned.finetune)}
                run.log(f"      measured sparsity {pruned.sparsity:.4f}; pruned Keras " + format_scores(pruned_scores))

        structured = None
        if channels:
            title = (f"channel pruning: removing {config.channel_ratio:.0%} of the filters (fine-tuning "
                     f"{config.finetune_min_steps}-{config.finetune_steps} steps)" if config.prune == "channels" else
                     f"channel pruning: searching the fastest ratio within the budget on {config.target} "
                     "(--prune auto)")
            with run.step("channels", title):
                if config.prune == "auto":
                    structured, search_record = _auto_prune(model, train, val, config, spec_dict, calibration,
                                                            base_dice, target_dice, tmp, distill, run.log)
                    if structured is None:
                        run.log("      no candidate met the budget: no channel-pruned artifact")
                else:
                    structured = prune_channels_and_finetune(model, train, val, config.channel_ratio,
                                                             pruning_budget(config), bs, spec.classes, target_dice,
                                                             config.seed, config.verbose, run.log,
                                                             config.channel_rounds, config.channel_criterion,
                                                             **distill)
                if structured is not None:
                    save_model(structured.model, spec, tmp / "channels.keras")
                    structured_reference = memoized(keras_predictor(structured.model, bs))
                    scores = evaluate_predictor(structured_reference, val, bs)
                    flops = model_flops(structured.model)
                    channel_info = {"ratio": structured.ratio, "dice": scores["dice"], "iou": scores["iou"],
                                    "flops": flops, "flops_ratio": flops / base_flops,
                                    "parameters": structured.model.count_params(),
                                    "parameters_before": model.count_params(), "kept_filters": structured.kept,
                                    "kept_whole": structured.frozen, "path": "channels.keras",
                                    "finetune": finetune_info(structured.finetune)}
                    run.log(f"      {flops / 1e9:.2f} GFLOPs ({flops / base_flops:.2f}x), "
                            f"{structured.model.count_params():,} parameters; channel-pruned Keras "
                            + format_scores(scores))

        with run.step("tflite_float", "TFLite float32, float16 and dynamic-range: convert and verify in LiteRT"):
            for name, convert, precision in (("float32", convert_float32, "float32"),
                                             ("float16", convert_float16, "float16"),
                                             ("dynamic_range", convert_dynamic_range, "int8-weights")):
                path = tmp / f"model_{name}.tflite"
                path.write_bytes(finalize(convert(model), spec_dict))
                verified = verify(path, val, reference, bs)
                rows.append(artifact_row(tmp, path, "tflite", precision, verified, base_dice, budget,
                                         sparsity=tflite_kernel_sparsity(verified.session), flops=base_flops))
                run.log(f"      {path.name}: Dice {verified.scores['dice']:.4f}")
            if structured is not None:
                path = tmp / "model_channels_float32.tflite"
                path.write_bytes(finalize(convert_float32(structured.model), spec_dict))
                verified = verify(path, val, structured_reference, bs)
                rows.append(artifact_row(tmp, path, "tflite", "float32", verified, base_dice, budget,
                                         sparsity=tflite_kernel_sparsity(verified.session),
                                         flops=channel_info["flops"], reference="channels.keras"))
                run.log(f"      {path.name}: Dice {verified.scores['dice']:.4f}")

        with run.step("tflite_int8", "TFLite int8 (full integer): quantize, verify in LiteRT, guard the budget"):
            def int8_artifact(title, remedies, filename, methods=None, integer_io=True, against=reference,
                              flops=base_flops, **extra):
                run.log(f"  {title}:")
                chain = remedies.chain(integer_io, methods) if methods else remedies.chain(integer_io)
                chain = [(m, lambda c=c: finalize(c(), spec_dict)) for m, c in chain]
                g = guard(chain, tmp / filename, val, against, base_dice, budget, bs, run.log)
                row = guarded_row(tmp, g, "tflite", base_dice, budget, tflite_kernel_sparsity,
                                  io="int8" if integer_io else "float", flops=flops, **extra)
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
            def source_missed(kind: str, dice: float, option: str) -> bool:
                """Quantization remedies cannot win back what pruning lost; say so instead."""
                missed = dice < base_dice - budget
                if missed:
                    run.log(f"      the {kind} float model is already outside the budget (Dice {dice:.4f}); "
                            f"raise --finetune-steps or lower {option}")
                return missed

            def blame_source(row: dict | None, cause: str, dice: float, fix: str) -> None:
                if row and not row["deployable"]:
                    row["reason"] = (f"{cause} alone dropped Dice to {dice:.4f} (baseline {base_dice:.4f}, "
                                     f"budget {budget}); fine-tune longer or {fix}")

            # Pruned artifacts: Dice is held to the unpruned baseline; the probability difference
            # is measured against the float model the artifact was made from.
            if structured is not None:
                missed = source_missed("channel-pruned", channel_info["dice"], "--channel-ratio")
                _, row = int8_artifact("channel-pruned + int8", Remedies(structured.model, calibration, more_calibration,
                                                                         None),
                                       "model_channels_int8.tflite", methods=("ptq",) if missed else METHODS[:-1],
                                       against=structured_reference, flops=channel_info["flops"],
                                       reference="channels.keras")
                if missed:
                    blame_source(row, "channel pruning", channel_info["dice"], "remove fewer filters")
            if pruned is not None:
                pruned_remedies = Remedies(pruned.model, calibration, more_calibration,
                                           qat_factory(pruned.model, True))
                pruned_kw = dict(against=pruned_reference, reference="pruned.keras")
                pruning_missed_budget = source_missed("pruned", pruning_info["dice"], "--sparsity")
                methods = ("ptq",) if pruning_missed_budget else METHODS[:-1]
                targets = [("pruned + int8", "model_pruned_int8.tflite", methods)]
                if config.qat:
                    targets.append(("pruned + pruning-preserving QAT (--qat)", "model_pruned_int8_pqat.tflite",
                                    ("qat",)))
                for title, filename, methods in targets:
                    _, row = int8_artifact(title, pruned_remedies, filename, methods=methods, **pruned_kw)
                    if pruning_missed_budget:
                        blame_source(row, "pruning", pruning_info["dice"], "prune less")
                    gap = abs(row["sparsity"] - config.sparsity) if row else 0.0
                    if gap > 0.01 and row["deployable"]:
                        row.update(deployable=False, reason=f"measured sparsity {row['sparsity']:.4f} is "
                                                            f"{gap:.4f} from the target {config.sparsity}")

        if config.edgetpu and (tmp / "model_int8.tflite").is_file():
            with run.step("edgetpu", "Edge TPU: check the int8 model's operations, compile if edgetpu_compiler is here"):
                edgetpu_info = _edgetpu(tmp, config, val, reference, base_dice, budget, bs, run.log, rows, base_flops)

        with run.step("onnx", f"ONNX float32 (tf2onnx, opset {config.onnx_opset}) and int8 QDQ: verify in onnxruntime"):
            onnx_path = export_onnx(model, tmp / "model.onnx", config.onnx_opset, spec_dict)
            rows.append(artifact_row(tmp, onnx_path, "onnx", "float32", verify(onnx_path, val, reference, bs),
                                     base_dice, budget, opset=config.onnx_opset, flops=base_flops))
            run.log(f"      model.onnx: Dice {rows[-1]['dice']:.4f}")
            onnx_remedies = [("ptq", lambda: calibration), ("more-calibration", more_calibration)]
            go = guard([(m, _onnx_int8(onnx_path, tmp, c, quantize_onnx_int8, spec_dict)) for m, c in onnx_remedies],
                       tmp / "model_int8.onnx", val, reference, base_dice, budget, bs, run.log)
            rows.append(guarded_row(tmp, go, "onnx", base_dice, budget, opset=config.onnx_opset, flops=base_flops))

        report = {
            "schema": SCHEMA, "model": str(model_path), "model_sha256": source_hash,
            "data": config.data.source, "spec": spec.to_dict(), "config": config.to_dict(),
            "baseline": baseline, "pruning": pruning_info, "channels": channel_info, "edgetpu": edgetpu_info,
            "finetune_skipped": finetune_skipped, "search": search_record,
            "artifacts": [r for r in rows if r is not None], "timings": run.timings,
        }
        if _sha256(model_path) != source_hash:
            raise RuntimeError(f"{model_path} changed during compress")  # never expected: a bug
        write_reports(report, tmp)
    run.log("")
    run.log(render_terminal(report))
    run.log(f"\nwrote {out}/ (report.json, report.md)")
    return report


def _auto_prune(model, train, val, config, spec_dict, calibration, base_dice, target_dice, tmp, distill, log):
    from .search_run import SearchContext, auto_prune

    return auto_prune(SearchContext(model, train, val, config, spec_dict, calibration, base_dice, target_dice,
                                    tmp / "search", distill, log))


def _unlabeled_batches(config: CompressConfig, spec, batch_size: int):
    """Scans --unlabeled now (a bad directory fails before any work), decodes it lazily."""
    from ..data.unlabeled import scan_unlabeled, unlabeled_batches

    paths = scan_unlabeled(Path(config.unlabeled))
    return lambda: unlabeled_batches(Path(config.unlabeled), spec, batch_size, config.seed, paths)


def _onnx_int8(float_path: Path, tmp: Path, calibration: Callable[[], np.ndarray], quantize,
               spec: dict) -> Callable[[], bytes]:
    def convert() -> bytes:
        target = tmp / ".int8_candidate.onnx"
        try:
            quantize(float_path, target, calibration(), spec)
            return target.read_bytes()
        finally:
            target.unlink(missing_ok=True)

    return convert


def _edgetpu(tmp: Path, config: CompressConfig, val, reference, base_dice: float, budget: float, bs: int,
             log, rows: list[dict], flops: int) -> dict:
    from .edgetpu_step import edgetpu_step

    summary, compiled, verified, reason = edgetpu_step(
        tmp / "model_int8.tflite", config.edgetpu_runtime, lambda p: verify(p, val, reference, bs), log)
    if compiled is not None:
        row = artifact_row(tmp, compiled, "edgetpu", "int8", verified, base_dice, budget,
                           deployable=False if verified is None else None, reason=reason,
                           flops=flops)
        rows.append(row)
    return summary
