"""The compress plan, the budget and the typed reports, as data: no model is built here."""
import dataclasses
import json
from pathlib import Path

import pytest

from edgeseg.artifacts.bench_report import BenchReport
from edgeseg.artifacts.compress_report import ArtifactRecord, CompressReport, read_compress_report
from edgeseg.scoring.budget import Budget
from edgeseg.compress.plan import plan, render_plan
from edgeseg.compress.sources import Source
from edgeseg.config import CompressConfig
from edgeseg.errors import DataError, UsageError
from edgeseg.quantize.methods import LADDERS, REGISTRY, methods_for


def _sources(channels_within=True):
    return [Source("base", "model", None, None, 0.95, 10, qat_remedy=True),
            Source("channels", "model_channels", None, None, 0.94 if channels_within else 0.5, 3,
                   label="channel pruning", within_budget=channels_within),
            Source("pruned", "model_pruned", None, None, 0.95, 10, preserve_sparsity=True, target_sparsity=0.5)]


def _by_file(targets):
    return {t.filename: t for t in targets}


def test_every_source_gets_every_kind_the_config_asks_for():
    targets = _by_file(plan(CompressConfig(), _sources()))
    for prefix in ("model", "model_channels", "model_pruned"):
        for suffix in ("_float32.tflite", "_float16.tflite", "_dynamic_range.tflite", "_int8.tflite",
                       "_int8_float_io.tflite", ".onnx", "_int8.onnx"):
            assert prefix + suffix in targets
    assert not [f for f in targets if "qat" in f or "edgetpu" in f]  # not asked for
    assert targets["model_channels_int8.onnx"].methods == ("ptq", "more-calibration", "percentile", "entropy", "mixed")
    assert targets["model_int8_float_io.tflite"].follows == "model_int8.tflite"


def test_formats_qat_and_edgetpu_are_filters():
    targets = _by_file(plan(CompressConfig(formats=("onnx",)), _sources()))
    assert all(f.endswith(".onnx") for f in targets)
    targets = _by_file(plan(CompressConfig(qat=True, edgetpu=True), _sources()))
    assert targets["model_int8_qat.tflite"].methods == ("qat",)
    assert targets["model_pruned_int8_pqat.tflite"].methods == ("qat",)  # pruning-preserving QAT
    assert [f for f in targets if "edgetpu" in f] == ["model_int8_edgetpu.tflite"]  # from the base model only


def test_qat_is_a_last_resort_only_for_the_base_model_and_a_missed_source_gets_plain_ptq_only():
    targets = _by_file(plan(CompressConfig(), _sources(channels_within=False)))
    tflite_ladder = tuple(m for m in LADDERS["semantic"] if "tflite" in REGISTRY[m].builds)
    assert targets["model_int8.tflite"].methods == tflite_ladder  # every semantic TFLite method
    assert targets["model_pruned_int8.tflite"].methods == ("ptq", "more-calibration", "mixed", "int16x8",
                                                           "float-fallback")
    assert targets["model_channels_int8.tflite"].methods == ("ptq",)


def test_prune_auto_adds_the_float_ends_speed_option_to_tflite_only():
    """The per-op profile: int8 convolutions at full resolution pay a floor channels cannot cut, so
    the speed search also builds the first and last convolutions in float; the verdict times it."""
    targets = _by_file(plan(CompressConfig(prune="auto"), _sources()))
    assert targets["model_int8_float_ends.tflite"].methods == ("float-ends",)
    assert targets["model_channels_int8_float_ends.tflite"].io == "int8"
    assert REGISTRY["float-ends"].note and "float-ends" not in LADDERS["semantic"]  # an option, not a remedy
    assert not [f for f in _by_file(plan(CompressConfig(), _sources())) if "float_ends" in f]
    assert not [f for f in _by_file(plan(CompressConfig(prune="auto", formats=("onnx",)), _sources()))
                if "float_ends" in f]


def test_the_plan_renders_as_a_readable_table():
    text = render_plan(plan(CompressConfig(), _sources()))
    assert text.splitlines()[0].split() == ["source", "artifact", "format", "precision", "I/O", "methods"]
    assert "model_channels_int8.onnx" in text and "as model_int8.tflite" in text


def test_method_registry_is_filtered_not_indexed():
    # ONNX: onnxruntime's Percentile and Entropy calibrations; the TFLite converter offers MinMax only
    assert methods_for("onnx", training=True) == ("ptq", "more-calibration", "percentile", "entropy", "mixed")
    assert methods_for("tflite", training=True) == ("ptq", "more-calibration", "mixed", "int16x8", "float-fallback",
                                                    "qat")  # mixed: after calibration, before int16x8 and training
    assert "qat" not in methods_for("tflite", training=False)
    assert methods_for("tflite", training=True, cheapest_only=True) == ("ptq",)


def test_formats_must_be_known():
    with pytest.raises(UsageError, match="--formats"):
        CompressConfig(formats=("tflite", "coreml"))


def test_budget_decides_and_words_every_reason():
    budget = Budget(0.95, 0.01)
    assert budget.admits(0.94) and not budget.admits(0.9399) and not budget.admits(None)
    assert budget.judge({"dice": 0.945}, method="ptq") == (True, "within budget with ptq")
    ok, reason = budget.judge({"dice": 0.90}, tried=("ptq", "int16x8"))
    assert not ok and "below the floor 0.9400" in reason and "ptq, int16x8" in reason
    ok, reason = budget.judge({"dice": 0.5}, source_label="channel pruning", source_dice=0.6,
                              source_fix="remove fewer")
    assert not ok and reason.startswith("channel pruning alone dropped Dice to 0.6000")
    ok, reason = budget.judge({"dice": 0.95}, sparsity=0.3, target_sparsity=0.5)
    assert not ok and "measured sparsity 0.3000" in reason
    failed = Budget(0.0, 0.01, baseline_problem="constant prediction")
    assert failed.judge({"dice": 0.99}) == (False, "the float baseline failed its sanity check: constant prediction")


def test_agreement_is_part_of_the_budget_and_decides_alone_without_real_masks():
    rose = {"dice": 0.66, "mask_agreement": 0.31, "mean_abs_diff": 0.2}  # Dice rose from 0.15: no better
    ok, reason = Budget(0.15, 0.01).judge(rose)
    assert not ok and "disagree" in reason
    no_masks = Budget(0.3, 0.01, judged_by_dice=False)
    ok, reason = no_masks.judge({"dice": 0.0, "mask_agreement": 0.99, "mean_abs_diff": 0.01})
    assert ok and "not measured against real masks" in reason
    assert not no_masks.accepts({"dice": 0.99, "mask_agreement": 0.5, "mean_abs_diff": 0.01})


REPORT = {"schema": "edgeseg.compress/2", "model": "m.keras", "model_sha256": "ab", "data": "synthetic",
          "spec": {"height": 32, "width": 32}, "config": {}, "baseline": {"dice": 0.9},
          "artifacts": [{"path": "model_int8.tflite", "format": "tflite", "precision": "int8", "bytes": 10,
                         "deployable": True, "reason": "within budget", "dice": 0.9, "attempts": []}]}


def test_compress_report_round_trips_and_keeps_unknown_fields():
    report = CompressReport.from_dict(REPORT)
    assert report.artifact("model_int8.tflite").attempts == [] and report.artifact("model_int8.tflite").extra == {}
    assert report.to_dict()["artifacts"][0]["attempts"] == []
    assert report.exit_code == 0
    old = dict(REPORT, schema="edgeseg.compress/1")  # the previous schema still reads
    assert CompressReport.from_dict(old).artifacts[0].source == "base"


@pytest.mark.parametrize("change, message", [
    (lambda r: r.update(schema="edgeseg.bench/1"), "schema"),
    (lambda r: r.pop("baseline"), "missing field 'baseline'"),
    (lambda r: r["artifacts"][0].update(bytes="10"), "'bytes' has the wrong type"),
    (lambda r: r["artifacts"][0].update(dice=float("nan")), "'dice' is not a finite number"),
    (lambda r: r.update(artifacts={"a": 1}), "'artifacts' has the wrong type"),
    (lambda r: r["artifacts"].append("x"), "expected an object"),
    (lambda r: r.update(baseline={"iou": 1}), "no Dice"),
])
def test_a_compress_report_of_the_wrong_shape_is_one_clear_error(tmp_path, change, message):
    raw = json.loads(json.dumps(REPORT))
    change(raw)
    (tmp_path / "report.json").write_text(json.dumps(raw))
    with pytest.raises(DataError, match=message):
        read_compress_report(tmp_path)


def test_an_unreadable_report_is_one_clear_error(tmp_path):
    (tmp_path / "report.json").write_text("{not json")
    with pytest.raises(DataError, match="not a readable edgeseg compress report"):
        read_compress_report(tmp_path)


BENCH = {"schema": "edgeseg.bench/1", "machine": {"label": "vm"},
         "rows": [{"artifact": "a.tflite", "runtime": "litert-cpu", "status": "ok", "runs": 30, "p50_ms": 2.0,
                   "p90_ms": 2.5}, {"artifact": "a.onnx", "runtime": "ort-cuda", "status": "unavailable"}]}


@pytest.mark.parametrize("change, message", [
    (lambda r: r["rows"][0].update(p50_ms=float("nan")), "p50_ms"),
    (lambda r: r["rows"][0].update(p50_ms=None), "p50_ms"),
    (lambda r: r["rows"][1].update(status="maybe"), "unknown status"),
    (lambda r: r.pop("machine"), "machine"),
])
def test_bench_reports_are_validated(change, message):
    assert BenchReport.from_dict(json.loads(json.dumps(BENCH))).rows[0].p50_ms == 2.0
    raw = json.loads(json.dumps(BENCH))
    change(raw)
    with pytest.raises(DataError, match=message):
        BenchReport.from_dict(raw)


def test_formats_may_be_given_as_text_and_flags_that_would_do_nothing_are_refused():
    assert CompressConfig(formats="tflite, onnx").formats == ("tflite", "onnx")
    for kwargs, message in ((dict(formats=("onnx",), qat=True), "--qat"),
                            (dict(formats=("onnx",), edgetpu=True), "--edgetpu"),
                            (dict(distill=0.5), "--distill")):
        with pytest.raises(UsageError, match=message):
            CompressConfig(**kwargs)


def test_review_findings_on_reports_and_bundles(tmp_path, monkeypatch):
    """bundle's default path from ".", a spec without a size, and a changed artifact in bench."""
    from edgeseg.bench.artifacts import _verified_precision
    from edgeseg.config import PreprocessSpec
    from edgeseg.deploy.bundle import default_bundle_path

    monkeypatch.chdir(tmp_path)
    assert default_bundle_path(Path(".")) == tmp_path.parent / f"{tmp_path.name}_bundle.zip"
    with pytest.raises(DataError, match="no 'height'"):
        PreprocessSpec.from_dict({"width": 32})
    (tmp_path / "m.tflite").write_bytes(b"changed")
    row = ArtifactRecord("m.tflite", "tflite", "float32", 7, True, "", sha256="0" * 64)
    with pytest.raises(DataError, match="not the file compress verified"):
        _verified_precision(tmp_path, row)
    assert _verified_precision(tmp_path, dataclasses.replace(row, sha256=None)) == "float32"  # a report without hashes


def test_a_nan_in_a_report_is_named_as_not_finite():
    raw = json.loads(json.dumps(REPORT))
    raw["artifacts"][0]["dice"] = float("nan")
    with pytest.raises(DataError, match="'dice' is not a finite number"):
        CompressReport.from_dict(raw)
