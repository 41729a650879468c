"""The instance task's scoring door: the baseline scored by instance metrics, the decoding
settings tuned once when the spec has none, every artifact verified in its runtime by PQ/F1
with the decoding settings stored in the artifact itself, and its agreement with the float
model's instances.

Dice stays in the scores (foreground Dice against the true foreground) because readers of the
report expect it, but for instance models it never decides: touching objects can merge with the
foreground Dice near 1. The budget is on PQ (see budget.Budget.metric). bench scores its rows
here too (PQ/F1 decoded with each artifact's own settings), and compress's verdict and report
word instance models here."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..config import PreprocessSpec
from ..data.dataset import SegmentationData
from .predictors import AgreementAccumulator, Predictor
from ..instances.scoring import (decode_settings, grid_counts, instance_agreement, predict_all, score_outputs,
                                 tune_decoding)
from ..metrics import ScoreAccumulator, foreground
from ..metrics.instance import SCORE_KEYS
from ..instances.held_out import fold_wording, format_score, held_out_record, held_out_scores
from .sanity import BaselineCheck, prediction_problems
from .task_base import BaselineStep, RowScores, Task
from .verify import Verified, open_in_runtime

if TYPE_CHECKING:
    from ..instances.scoring import DecodeSettings

# Below this PQ a float instance model has not learned to separate objects on this data.
MIN_BASELINE_PQ = 0.1


def foreground_scores(outputs: list[np.ndarray], truths: list[np.ndarray], threshold: float) -> dict:
    """Dice/IoU of the foreground channel against the true foreground (every object as one class)."""
    scores = ScoreAccumulator()
    for probs, truth in zip(outputs, truths):
        scores.update(foreground(probs[..., 0], threshold).astype(np.int32)[None],
                      (truth > 0).astype(np.int32)[None])
    return scores.result()


def agreement_scores(outputs: list[np.ndarray], reference: list[np.ndarray], threshold: float) -> dict:
    """Probability and foreground-mask agreement with the float model (sanity.check_agreement reads it)."""
    agreement = AgreementAccumulator()
    for probs, expected in zip(outputs, reference):
        agreement.update(probs, foreground(probs[..., 0], threshold).astype(np.int32),
                         expected, foreground(expected[..., 0], threshold).astype(np.int32))
    return agreement.result()


def instance_scores(outputs: list[np.ndarray], truths: list[np.ndarray], settings: DecodeSettings,
                    reference: list[np.ndarray] | None = None,
                    reference_settings: DecodeSettings | None = None) -> dict:
    """Instance metrics decoded with `settings`, foreground Dice, and with `reference` (the float
    model's outputs) the agreement: probabilities, foreground mask, and instances (PQ/F1 of these
    instances with the float model's, decoded with its own settings, as the truth)."""
    scores = score_outputs(outputs, truths, settings)
    fg = foreground_scores(outputs, truths, settings.foreground)
    scores.update(dice=fg["dice"], iou=fg["iou"], dice_per_image=fg["dice_per_image"], decode=settings.to_dict())
    if reference is not None:
        scores.update(agreement_scores(outputs, reference, settings.foreground))
        agree = instance_agreement(reference, outputs, settings, reference_settings)
        scores.update(agreement_pq=agree["pq"], agreement_f1=agree["f1"])
    return scores


@dataclasses.dataclass
class InstanceBaseline:
    scores: dict  # the float model's instance scores, with foreground Dice
    spec: PreprocessSpec  # with the decoding settings every artifact stores
    outputs: list[np.ndarray]  # the float model's outputs on the validation images
    truths: list[np.ndarray]
    tuning: dict | None  # the tuning record, when compress tuned the settings itself


def instance_baseline(predict: Predictor, val: SegmentationData, spec: PreprocessSpec, batch_size: int,
                      log=print, real_masks: bool = True) -> InstanceBaseline:
    """Scores the float model; tunes the decoding settings on `val` first when the spec has none
    (on real masks only: without them the defaults are stored, and said so)."""
    outputs, truths = predict_all(predict, val, batch_size)
    tuning = None
    if not spec.decode and not real_masks:
        spec = dataclasses.replace(spec, decode=decode_settings().to_dict())
        tuning = {"tuned_by": "nobody: no real masks to tune on, the default settings are stored"}
        log("      the spec has no decoding settings and there are no real masks to tune them on: the defaults "
            "are stored")
    if not spec.decode:
        table = grid_counts(outputs, truths)  # decoded once, for the tuning and for its held-out score
        tuned = tune_decoding(outputs, truths, table=table)
        spec = dataclasses.replace(spec, decode=tuned.settings.to_dict())
        held = held_out_record(outputs, truths, table=table)
        tuning = {"tuned_by": "compress", "images": len(truths), **tuned.to_dict(), "held_out": held}
        log(f"      the spec has no decoding settings: tuned on {len(truths)} validation images with the float "
            f"model (foreground {tuned.settings.foreground}, seed {tuned.settings.seed}, smoothing "
            f"{tuned.settings.smooth}); stored in every artifact")
        log(f"      that tuning on images it did not see ({fold_wording(held)}): PQ "
            f"{format_score(held['pq'])}, F1@0.5 {format_score(held['f1'])} (in-sample PQ "
            f"{tuned.scores['pq']:.4f}, F1@0.5 {tuned.scores['f1']:.4f})")
    settings = decode_settings(spec.decode)
    return InstanceBaseline(instance_scores(outputs, truths, settings), spec, outputs, truths, tuning)


def check_instance_baseline(base: InstanceBaseline, judged: bool) -> BaselineCheck:
    """A float instance model is implausible when it predicts no foreground, or foreground
    everywhere (on channel 0), or separates objects so badly that PQ is near zero."""
    if not judged:
        return BaselineCheck(True, skipped="no real masks to judge the float model against")
    probs = np.stack(base.outputs)[..., :1]
    truth = (np.stack(base.truths) > 0).astype(np.int32)
    problems = prediction_problems(probs, truth, decode_settings(base.spec.decode).foreground)
    if base.scores["pq"] < MIN_BASELINE_PQ:
        problems.append(f"float PQ {base.scores['pq']:.4f} is below {MIN_BASELINE_PQ}: the model does not separate "
                        "the objects on this data")
    return BaselineCheck(not problems, problems)


def stored_decode(path: Path) -> DecodeSettings:
    """The decoding settings stored in an artifact's own spec: what the device will decode with."""
    from ..artifacts import onnx, tflite

    spec = onnx.read_spec(path) if path.suffix == ".onnx" else tflite.read_spec(path.read_bytes())
    if not spec or not spec.get("decode"):
        raise RuntimeError(f"{path.name} stores no decoding settings")  # a bug: every artifact gets them
    return decode_settings(spec["decode"])


def run_artifact(path: Path, val: SegmentationData, batch_size: int
                 ) -> tuple[list[np.ndarray], list[np.ndarray], float, str, object]:
    """(outputs on `val`, its true label maps, load seconds, runtime name, session) of an
    artifact in its own runtime."""
    session, load_seconds, runtime = open_in_runtime(path)
    outputs, truths = predict_all(session.run, val, batch_size)
    return outputs, truths, load_seconds, runtime, session


def verify_instance(path: Path, val: SegmentationData, reference: Predictor, reference_settings: DecodeSettings,
                    batch_size: int, held_out: bool = False) -> Verified:
    """An artifact's instance scores in its runtime, decoded with the settings it stores. With
    `held_out` (its decoding was re-tuned on `val` from `reference_settings`, as retune_artifact
    does) also the cross-fitted pq_held_out/f1_held_out, which then decide its verdict (budget.py)."""
    outputs, truths, load_seconds, runtime, session = run_artifact(path, val, batch_size)
    ref_outputs, _ = predict_all(reference, val, batch_size)
    scores = instance_scores(outputs, truths, stored_decode(path), ref_outputs, reference_settings)
    if held_out:
        scores.update(held_out_scores(outputs, truths, reference_settings))
    return Verified(runtime, scores, load_seconds, session)


def retune_artifact(path: Path, val: SegmentationData, spec: dict, batch_size: int) -> tuple[dict, dict]:
    """(the artifact's spec with decoding re-tuned on its own outputs, the tuning record).
    The grid starts from the float model's settings, so untouched settings stay as they were.
    These settings, tuned on all of `val`, are what ships; the verdict is the held-out PQ of the
    same procedure (verify_instance with held_out), not the in-sample PQ of these settings."""
    outputs, truths, _, _, _ = run_artifact(path, val, batch_size)
    base = decode_settings(spec.get("decode"))
    tuned = tune_decoding(outputs, truths, base)
    return {**spec, "decode": tuned.settings.to_dict()}, {"tuned_by": "compress, for this artifact",
                                                          **tuned.to_dict()}


def format_instance_scores(scores: dict) -> str:
    return (f"PQ {scores['pq']:.4f} (SQ {scores['sq']:.4f}, RQ {scores['rq']:.4f})  F1@0.5 {scores['f1']:.4f}  "
            f"foreground Dice {scores['dice']:.4f}  on {scores['images']} images")


def artifact_decode_settings(own: dict | None, data: SegmentationData) -> DecodeSettings:
    """The artifact's own stored settings (compress may have re-tuned them for it), else the
    shared spec's, else the decoder's defaults."""
    from ..instances.decode import DecodeSettings

    return DecodeSettings.from_dict(own if isinstance(own, dict) else data.spec.decode)


def instance_fields(scores: dict, decode_stats) -> dict:
    """The instance columns of a bench row: scores and the decoder's p50/p90 (None where not measured)."""
    row = {k: scores.get(k) for k in (*SCORE_KEYS, "true_objects", "pred_objects", "decode_settings")}
    row |= {"decode_ms": decode_stats.p50_ms if decode_stats else None,
            "decode_p90_ms": decode_stats.p90_ms if decode_stats else None,
            "decode_runs": decode_stats.runs if decode_stats else None}
    return row


def decode_share(row: dict) -> float | None:
    """Decode p50 as a fraction of the network's p50: what decoding adds to each image."""
    if row.get("decode_ms") is None or not row.get("p50_ms"):
        return None
    return row["decode_ms"] / row["p50_ms"]


def with_decode_share(row: dict) -> dict:
    """The row with decode_share: decode p50 / network p50, None where either is missing."""
    return row | {"decode_share": decode_share(row)}


class InstanceTask(Task):
    name = "instance"
    metric = "pq"
    label = "PQ"
    budget_field = "max_pq_drop"
    report_section = "instance"  # compress records the PQ budget it applied there (the config keeps None)
    headline = ("pq", "sq", "rq", "f1")
    bench_label = "PQ/F1@0.5"
    bench_note = "; an instance model: decoding is timed beside the network"
    refusals = ((lambda c: c.prune == "auto",
                 "--prune auto is not available for instance models (its search judges candidates by int8 Dice); "
                 "use --prune channels [--channel-ratio R] or --prune magnitude"),)
    table_columns = ("pq", "f1", "agreement_pq")  # beside Dice, which does not decide
    row_columns_after = {"dice": (("pq", "PQ"), ("f1", "F1@0.5")),
                         "p90_ms": (("decode_ms", "Decode ms"), ("decode_share", "Decode %"))}
    dice_column = False  # an instance row has no Dice
    explains_int8 = True  # per layer: the PQ lost alone in int8 (decoded with the spec's settings)

    def masks(self, outputs, spec: PreprocessSpec):
        """The foreground as the decoder draws it: at the spec's tuned foreground threshold."""
        return foreground(np.asarray(outputs)[..., 0], decode_settings(spec.decode).foreground).astype(np.int32)

    def max_drop(self, config) -> float:
        return config.pq_budget  # --max-pq-drop, or its default

    def evaluate(self, predict: Predictor, val: SegmentationData, batch_size: int) -> dict:
        """PQ/F1 decoded with the spec's stored settings, with foreground Dice beside them."""
        outputs, truths = predict_all(predict, val, batch_size)
        return instance_scores(outputs, truths, decode_settings(val.spec.decode))

    def describe(self, scores: dict) -> str:
        return format_instance_scores(scores)

    def baseline_step(self, reference: Predictor, val: SegmentationData, spec: PreprocessSpec, config,
                      judged: bool, model, log) -> BaselineStep:
        """Scores, sanity check and the report's instance section (budget on PQ, decoding
        settings and who tuned them)."""
        base = instance_baseline(reference, val, spec, config.batch_size, log, judged)
        s = base.scores
        log(f"      PQ {s['pq']:.4f} (SQ {s['sq']:.4f}, RQ {s['rq']:.4f})  F1@0.5 {s['f1']:.4f}  AJI {s['aji']:.4f}  "
            f"count error {s['count_mae']:.2f}/image  foreground Dice {s['dice']:.4f}  on {s['images']} images")
        info = {"budget_metric": "pq", "max_pq_drop": config.pq_budget, "decode": base.spec.decode,
                "decode_tuning": base.tuning or {"tuned_by": "training (stored in the model's spec)"}}
        return BaselineStep(s, check_instance_baseline(base, judged), base.spec, info)

    def verifier(self, val: SegmentationData, reference: Predictor, spec: dict, batch_size: int,
                 held_out: bool = False, original: Predictor | None = None):
        """PQ/F1, decoded with the settings the artifact itself stores. `held_out`: its decoding was
        re-tuned on `val` from the float settings, so its cross-fitted held-out PQ decides. The float
        baseline keeps its own score: when compress tuned the float's settings on these same images
        that score is optimistic too, which only makes the test stricter."""
        settings = decode_settings(spec.get("decode"))
        return lambda path: verify_instance(path, val, reference, settings, batch_size, held_out=held_out)

    def retune(self, path: Path, val: SegmentationData, spec: dict, batch_size: int) -> tuple[dict, dict]:
        return retune_artifact(path, val, spec, batch_size)

    def artifact_extra(self, scores: dict, note: str) -> dict:
        """Beside PQ/F1: the other instance scores, the agreement with the float model's instances,
        and the decoding settings the artifact stores (and was verified with)."""
        extra = {k: scores.get(k) for k in (*SCORE_KEYS, "agreement_f1", "decode")}
        held_out = {"held_out": scores["held_out"]} if "held_out" in scores else {}
        return extra | held_out | ({"note": note} if note else {})

    def decided_by(self, budget, scores: dict) -> str | None:
        return budget.deciding_key(scores) if scores else None

    def score_row(self, predict: Predictor, data: SegmentationData, batch_size: int,
                  own_spec: dict | None) -> RowScores:
        """Instance scores decoded with the artifact's own settings, and its outputs for bench to
        time the same decoding on. The network runs once per image."""
        settings = artifact_decode_settings((own_spec or {}).get("decode"), data)
        outputs, truths = predict_all(predict, data, batch_size)
        scores = {k: v for k, v in score_outputs(outputs, truths, settings).items()
                  if k in SCORE_KEYS or k in ("images", "true_objects", "pred_objects")}
        scores["decode_settings"] = settings.to_dict()
        return RowScores(scores, (outputs, settings))

    def row_fields(self, row: dict, scores: dict, decode_stats) -> dict:
        return with_decode_share(row | {"task": self.name} | instance_fields(scores, decode_stats))

    def row_line(self, scores: dict) -> str:
        return (f"PQ {scores['pq']:.4f}, F1@0.5 {scores['f1']:.4f} ({scores['pred_objects']} found, "
                f"{scores['true_objects']} true) on {scores['images']} images, decoded with its stored "
                f"settings ({scores['decode_settings']['method']})")

    def bench_fields(self, floors: dict[str, float | None]) -> dict:
        return {"task": self.name, "pq_floor": floors.get(self.metric)}

    def recommended_fields(self, best, baseline) -> dict:
        """Judged by PQ: the float model's PQ, the artifact's PQ/F1 and agreement (an ArtifactRecord
        and the report's Baseline)."""
        return dict(pq=best.pq, f1=best.f1, agreement_pq=best.agreement_pq, baseline_pq=baseline.pq,
                    baseline_f1=baseline.f1, decided_by=best.decided_by, pq_held_out=best.pq_held_out,
                    f1_held_out=best.f1_held_out)

    def budget_text(self, report) -> str:
        return "Dice does not decide for this instance model (see below)."

    def report_lines(self, report) -> list[str]:
        """report.md's lines on an instance model (a CompressReport): the float PQ/F1, the budget
        on PQ, the decoding."""
        base, info = report.baseline, report.instance
        if not info:
            return []
        tuned = info.decode_tuning.tuned_by
        ladder = f" Remedies, cheapest first: {', '.join(info.ladder)}." if info.ladder else ""
        return [f"Instance model, judged by PQ (Dice does not decide: touching objects can merge at a high Dice). "
                f"Float: PQ {base.pq:.4f} (SQ {base.sq:.4f}, RQ {base.rq:.4f}), F1@0.5 {base.f1:.4f}, "
                f"AJI {base.aji:.4f}, count error {base.count_mae:.2f}/image. Budget: PQ drop <= "
                f"{info.max_pq_drop}. Decoding settings {info.decode} (tuned by {tuned}); each artifact stores "
                f"the settings it was verified with.{ladder}", ""]


INSTANCE = InstanceTask()
