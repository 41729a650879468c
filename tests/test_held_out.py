"""Decoding settings judged on images they were not tuned on (issue 16): the cross-fit never
scores an image with settings tuned on it, its folds are deterministic, compress records the
held-out PQ of its own tuning, and a re-tuned artifact's verdict is its held-out PQ. Decode-level:
synthetic probability maps, no TensorFlow."""
import numpy as np
import pytest

from edgeseg.instances import cross_fit as evaluate_heldout, scoring as evaluate_instance
from edgeseg.artifacts.compress_report import ArtifactRecord, CompressReport
from edgeseg.compress import guard as guard_module
from edgeseg.scoring.budget import Budget
from edgeseg.instances.held_out import held_out_lines, held_out_scores
from edgeseg.compress.report import render_markdown, render_terminal
from edgeseg.scoring.verify import Verified
from edgeseg.config import PreprocessSpec
from edgeseg.instances.decode import DecodeSettings
from edgeseg.instances.cross_fit import cross_fit, fold_indices, folds_for
from edgeseg.instances.scoring import tune_decoding
from edgeseg.quantize.methods import LADDERS

GRID = {"foreground": (0.4, 0.5), "seed": (0.5,)}
SIZE = 32


def _image(faint_object: bool) -> tuple[np.ndarray, np.ndarray]:
    """(network output, true labels) of one 32x32 image with one true 8x8 object. faint_object:
    the object's foreground probability is 0.45 (found only at threshold 0.4); otherwise the
    object is sure (0.9) and a false blob beside it sits at 0.45 (found, wrongly, at 0.4)."""
    probs = np.zeros((SIZE, SIZE, 2), np.float32)
    truth = np.zeros((SIZE, SIZE), np.int32)
    truth[4:12, 4:12] = 1
    probs[4:12, 4:12, 0] = 0.45 if faint_object else 0.9
    if not faint_object:
        probs[20:28, 20:28, 0] = 0.45
    for top in (4, 20):  # a seed deep inside each blob
        probs[top:top + 8, top:top + 8, 1] = 0.3
        probs[top + 2:top + 6, top + 2:top + 6, 1] = 0.9
    return probs, truth


def _alternating(n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Faint-object and false-blob images alternating: round-robin folds put each kind in its own
    fold, so settings tuned on one fold are wrong for the other; tuning on all of them is not."""
    pairs = [_image(i % 2 == 0) for i in range(n)]
    return [p for p, _ in pairs], [t for _, t in pairs]


def test_folds_are_round_robin_deterministic_and_cover_every_image_once():
    assert fold_indices(7) == [[0, 2, 4, 6], [1, 3, 5]]
    assert fold_indices(3, folds=5) == [[0], [1], [2]]  # more folds than images: leave-one-out
    assert sorted(i for fold in fold_indices(16, 4) for i in fold) == list(range(16))
    with pytest.raises(ValueError):
        fold_indices(4, folds=1)
    outputs, truths = _alternating(6)
    first, second = cross_fit(outputs, truths, grid=GRID), cross_fit(outputs, truths, grid=GRID)
    assert first.scores == second.scores and first.fold_settings == second.fold_settings


def test_in_sample_tuning_overfits_and_the_held_out_pq_says_so():
    outputs, truths = _alternating(4)
    in_sample = tune_decoding(outputs, truths, grid=GRID)
    held = cross_fit(outputs, truths, grid=GRID)
    # All four images: threshold 0.4 finds every object and two false blobs (PQ 0.8).
    assert in_sample.settings.foreground == 0.4 and in_sample.scores["pq"] == pytest.approx(0.8)
    # Tuned on the false-blob images (0.5), the faint objects are lost; tuned on the faint ones
    # (0.4), the blobs come back: 2 found, 2 false, 2 missed.
    assert [s.foreground for s in held.fold_settings] == [0.5, 0.4]
    assert held.scores["pq"] == pytest.approx(0.5) and held.scores["f1"] == pytest.approx(0.5)
    assert held.scores["images"] == 4 and held.to_dict()["images_per_fold"] == [2, 2]


def test_the_cross_fit_never_scores_an_image_with_settings_tuned_on_it(monkeypatch):
    """Each fold's settings are exactly what tuning on the other folds alone picks, and each
    image is scored once, with its own fold's settings."""
    outputs, truths = _alternating(7)
    scored: list[tuple[int, DecodeSettings]] = []  # (position of the output decoded, settings used)
    real_decode = evaluate_heldout.decode

    def spy_decode(probs, settings, **kwargs):
        scored.append((next(i for i, o in enumerate(outputs) if o is probs), settings))
        return real_decode(probs, settings, **kwargs)

    monkeypatch.setattr(evaluate_heldout, "decode", spy_decode)  # the scoring pass only (tuning decodes apart)
    for folds in (2, 3, 7):
        scored.clear()
        held = cross_fit(outputs, truths, grid=GRID, folds=folds)
        for fold, settings in zip(held.folds, held.fold_settings):
            rest = [i for i in range(7) if i not in fold]
            assert settings == tune_decoding([outputs[i] for i in rest], [truths[i] for i in rest], grid=GRID).settings
        fold_of = {i: f for f, fold in enumerate(held.folds) for i in fold}
        assert sorted(i for i, _ in scored) == list(range(7))  # every image scored once
        assert all(settings is held.fold_settings[fold_of[i]] for i, settings in scored)


def test_compress_holds_out_one_image_at_a_time_when_there_are_few():
    assert [folds_for(n) for n in (1, 2, 7, 16, 17, 64)] == [2, 2, 7, 16, 2, 2]


def test_an_artifact_decoded_with_settings_tuned_on_other_outputs():
    outputs, truths = _alternating(4)
    sure = [np.where(o > 0.4, np.maximum(o, 0.95), o) for o in outputs]  # every blob clearly found
    held = cross_fit(outputs, truths, grid=GRID, scored=sure)
    assert [s.foreground for s in held.fold_settings] == [0.5, 0.4]
    assert (held.scores["pred_objects"], held.scores["true_objects"]) == (6, 4)  # sure blobs found at any threshold
    with pytest.raises(ValueError):
        cross_fit(outputs, truths, grid=GRID, scored=sure[:3])


def test_fewer_than_two_images_hold_nothing_out_and_the_budget_says_not_measured():
    outputs, truths = _alternating(1)
    assert cross_fit(outputs, truths, grid=GRID) is None
    scores = held_out_scores(outputs, truths, DecodeSettings())
    assert scores["pq_held_out"] is None and "fewer than 2" in scores["held_out"]["unavailable"]
    ok, why = Budget(0.80, 0.02, metric="pq").judge({"pq": 0.95, **scores})
    assert not ok and why == "held-out PQ not measured"  # never the optimistic in-sample PQ


PQ_BUDGET = Budget(0.80, 0.02, metric="pq")


def test_the_held_out_pq_decides_a_re_tuned_artifact():
    assert PQ_BUDGET.judge({"pq": 0.79})[0]  # in-sample alone would pass
    ok, why = PQ_BUDGET.judge({"pq": 0.79, "pq_held_out": 0.74, "f1_held_out": 0.8})
    assert not ok and why.startswith("held-out PQ 0.7400 is below the floor 0.7800")
    assert PQ_BUDGET.deciding_key({"pq": 0.79, "pq_held_out": 0.79}) == "pq_held_out"
    assert PQ_BUDGET.judge({"pq": 0.70, "pq_held_out": 0.79})[0]
    assert Budget(0.9, 0.02).deciding_key({"dice": 0.9}) == "dice"  # semantic models unchanged


def test_the_guard_rejects_a_re_tuned_artifact_whose_held_out_pq_misses(tmp_path):
    """ptq and float-head miss; the re-tuned decoding passes in-sample (0.79) but not held out (0.74)."""
    candidates = [(name, (lambda pq=pq: str(pq).encode())) for name, pq in zip(LADDERS["instance"], (0.70, 0.75, 0.79))]

    def plain(path):
        return Verified("fake", {"dice": 0.99, "pq": float(path.read_text()), "f1": 0.9}, 0.0)

    def re_tuned(path):
        return Verified("fake", {"dice": 0.99, "pq": float(path.read_text()), "f1": 0.9, "pq_held_out": 0.74,
                                 "f1_held_out": 0.85}, 0.0)

    logged = []
    g = guard_module.guard(candidates, tmp_path / "a.tflite", plain, PQ_BUDGET, logged.append,
                           {"retuned-decoding": re_tuned})
    assert not g.deployable and g.method == "float-head"  # held-out 0.74 ranks below float-head's 0.75
    assert g.reason.startswith("PQ 0.7500 is below the floor")
    last = g.attempts[-1].to_dict()
    assert (last["method"], last["pq"], last["pq_held_out"], last["met_budget"]) == ("retuned-decoding", 0.79, 0.74,
                                                                                    False)
    assert "held-out PQ 0.7400 (in-sample PQ 0.7900)" in logged[-1]
    passing = guard_module.guard(candidates, tmp_path / "b.tflite", plain, PQ_BUDGET, print)
    assert passing.deployable and passing.method == "retuned-decoding"  # judged in-sample it would ship


REPORT = {"schema": "edgeseg.compress/2", "model": "m.keras", "model_sha256": "ab", "data": "d",
          "spec": {"height": 32, "width": 32, "task": "instance"}, "config": {}, "timings": {"verify": 1.0},
          "baseline": {"dice": 0.9, "iou": 0.8, "images": 8, "pq": 0.8, "sq": 0.9, "rq": 0.88, "f1": 0.88,
                       "aji": 0.7, "count_mae": 0.5},
          "instance": {"max_pq_drop": 0.02, "decode": {"foreground": 0.5}, "ladder": ["ptq"],
                       "decode_tuning": {"tuned_by": "compress", "scores": {"pq": 0.8},
                                         "held_out": {"pq": 0.71, "f1": 0.8, "folds": 2}}},
          "artifacts": [{"path": "model_int8.tflite", "format": "tflite", "precision": "int8", "bytes": 10,
                         "deployable": False, "reason": "held-out PQ 0.7400 is below the floor 0.7800",
                         "dice": 0.9, "pq": 0.79, "f1": 0.9, "agreement_pq": 0.95, "pq_held_out": 0.74,
                         "f1_held_out": 0.85, "decided_by": "pq_held_out",
                         "held_out": {"folds": 8, "images_per_fold": [1] * 8}, "method": "float-head-retuned",
                         "attempts": [{"method": "ptq", "pq": 0.7, "met_budget": False},
                                      {"method": "retuned-decoding", "pq": 0.79, "pq_held_out": 0.73,
                                       "met_budget": False}]}]}


def test_held_out_fields_round_trip_and_old_reports_still_read():
    report = CompressReport.from_dict(REPORT)
    record = report.artifact("model_int8.tflite")
    assert (record.pq, record.pq_held_out, record.f1_held_out, record.decided_by) == (0.79, 0.74, 0.85,
                                                                                      "pq_held_out")
    assert record.extra["held_out"] == {"folds": 8, "images_per_fold": [1] * 8}
    assert CompressReport.from_dict(report.to_dict()).to_dict() == report.to_dict()
    old = {k: v for k, v in REPORT["artifacts"][0].items() if k not in ("pq_held_out", "f1_held_out", "decided_by")}
    read = CompressReport.from_dict({**REPORT, "artifacts": [old]}).artifacts[0]
    assert (read.pq_held_out, read.decided_by) == (None, None)
    assert ArtifactRecord("a", "tflite", "int8", 1, True, "ok").to_dict()["decided_by"] is None


def test_report_md_and_the_terminal_say_which_pq_decided():
    lines = held_out_lines(REPORT)
    assert lines[0].startswith("float decoding tuned by compress on these images: PQ 0.8000 in-sample, "
                               "0.7100 held-out (2-fold")
    assert lines[1] == ("model_int8.tflite: decoding re-tuned on the images that score it; held-out PQ 0.7400 "
                        "(F1 0.8500, leave-one-out) decided, in-sample PQ 0.7900 with the settings it ships")
    assert lines[2] == "model_int8.tflite: retuned-decoding missed on held-out PQ 0.7300 (in-sample PQ 0.7900)"
    typed = CompressReport.from_dict(REPORT)
    assert lines[1] in render_terminal(typed) and f"- {lines[1]}" in render_markdown(typed)
    plain = {**REPORT, "instance": {**REPORT["instance"], "decode_tuning": {"tuned_by": "training"}},
             "artifacts": [{**REPORT["artifacts"][0], "decided_by": "pq", "attempts": []}]}
    assert held_out_lines(plain) == []
    assert "images it was not tuned on" not in render_markdown(CompressReport.from_dict(plain))


class _Val:
    """The slice of SegmentationData predict_all reads: batches of (images, true label maps);
    the 'images' are positions, so the predictor can hand back prepared outputs."""

    def __init__(self, truths):
        self.truths = truths

    def batches(self, batch_size, limit=None):
        for start in range(0, len(self.truths), batch_size):
            stop = min(start + batch_size, len(self.truths))
            yield np.arange(start, stop), np.stack(self.truths[start:stop])


def test_compress_records_the_held_out_pq_of_its_own_tuning(monkeypatch):
    from edgeseg.scoring import instance

    monkeypatch.setattr(evaluate_instance, "DEFAULT_GRID", GRID)  # both tunings: the float's and the cross-fit's
    outputs, truths = _alternating(4)
    logged = []
    spec = PreprocessSpec(SIZE, SIZE, task="instance", instance_channels=2)
    base = instance.instance_baseline(lambda idx: np.stack([outputs[i] for i in idx]), _Val(truths), spec, 2,
                                      logged.append)
    held = base.tuning["held_out"]
    assert base.tuning["scores"]["pq"] == pytest.approx(0.8) and held["pq"] == pytest.approx(0.5)
    # Four images: one held out at a time; each faint-object image is lost, each blob image keeps its blob.
    assert held["folds"] == 4 and [s["foreground"] for s in held["fold_settings"]] == [0.5, 0.4, 0.5, 0.4]
    assert any("(leave-one-out): PQ 0.5000" in line and "in-sample PQ 0.8000" in line for line in logged)


def test_the_ship_line_leads_with_the_held_out_pq_that_decided():
    from edgeseg.compress.verdict import verdict_lines

    shipped = {**REPORT["artifacts"][0], "deployable": True, "reason": "", "pq": 0.83, "pq_held_out": 0.785,
               "f1_held_out": 0.86, "flops": 1}
    ship = [line for line in verdict_lines(CompressReport.from_dict({**REPORT, "artifacts": [shipped]}), "out")
            if "ship" in line]
    assert ship and "held-out PQ 0.7850 (float 0.8000; in-sample 0.8300), held-out F1@0.5 0.8600" in ship[0]
    plain = {**shipped, "decided_by": "pq"}
    ship = [line for line in verdict_lines(CompressReport.from_dict({**REPORT, "artifacts": [plain]}), "out")
            if "ship" in line]
    assert ship and "  PQ 0.8300 (float 0.8000)" in ship[0] and "held-out" not in ship[0]
