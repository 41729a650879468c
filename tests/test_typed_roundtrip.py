"""Typed values end to end: CompressConfig and CompressReport read back exactly what they wrote."""
import dataclasses
import json

import pytest

from edgeseg.config import BenchConfig, CompressConfig, DataConfig, ModelConfig, TrainConfig
from edgeseg.errors import DataError, UsageError

# A value of every CompressConfig field other than its default, and valid together.
CHANGED = {"data": DataConfig(source="/data", val_fraction=0.3, seed=4, synthetic_train=9, synthetic_val=3,
                              augment=False, balance="weight"),
           "normalize": "-1-1", "sparsity": 0.7, "max_dice_drop": 0.05, "max_pq_drop": 0.03, "qat": True,
           "finetune_steps": 50, "finetune_scale": 1.5, "finetune_min_steps": 10, "finetune_time": 30.0, "finetune_lr": 1e-3,
           "qat_steps": 20, "explain": True, "distill": 0.5, "unlabeled": "/unlabeled", "batch_size": 4, "calibration_samples": 8,
           "onnx_opset": 18, "unsafe": True, "custom_objects": "layers.py", "edgetpu": True, "edgetpu_runtime": 15,
           "prune": "channels", "channel_ratio": 0.25, "channel_rounds": 2, "channel_criterion": "l1",
           "target": "onnxrt-cpu", "search_trials": 7, "search_time": 60.0, "study": "s.sqlite3",
           "formats": ("tflite",), "seed": 3, "verbose": 0}


def test_every_compress_config_field_round_trips():
    defaults = CompressConfig()
    fields = [f.name for f in dataclasses.fields(CompressConfig)]
    assert sorted(CHANGED) == sorted(fields), "give a new CompressConfig field a changed value in CHANGED"
    changed = CompressConfig(**CHANGED)
    assert all(getattr(changed, name) != getattr(defaults, name) for name in fields)
    for config in (defaults, changed):
        assert CompressConfig.from_dict(config.to_dict()) == config
        through_json = json.loads(json.dumps(config.to_dict()))  # lists come back as tuples
        assert CompressConfig.from_dict(through_json) == config
    assert isinstance(CompressConfig.from_dict(json.loads(json.dumps(changed.to_dict()))).formats, tuple)
    from_the_command_line = CompressConfig(normalize=None)  # the CLI's default: the model's own normalize
    assert CompressConfig.from_dict(json.loads(json.dumps(from_the_command_line.to_dict()))) == from_the_command_line


def test_other_configs_round_trip():
    train = TrainConfig(model=ModelConfig(preset="tiny", task="instance", boundary=True), data=DataConfig(seed=2),
                        epochs=3, strategy="mirrored")
    assert TrainConfig.from_dict(json.loads(json.dumps(dataclasses.asdict(train)))) == train


@pytest.mark.parametrize("raw, error", [
    ({"sparsity": 1.0}, UsageError),  # what the constructor refuses, from_dict refuses the same way
    ({"formats": ["onnx"], "qat": True}, UsageError),
    ({"sparsity": "0.5"}, UsageError),
    ({"qat": 1}, UsageError),
    ({"seed": True}, UsageError),
    ({"formats": "tflite"}, UsageError),
    ({"data": {"val_fraction": 1.0}}, UsageError),
    ({"data": "synthetic"}, DataError),
    ({"normalize": "0-255"}, UsageError),
    ({"sparsityy": 0.5}, UsageError),  # a misspelt field is not silently ignored
    ([], DataError),
])
def test_invalid_compress_config_records_are_refused(raw, error):
    with pytest.raises(error):
        CompressConfig.from_dict(raw)


def test_unknown_fields_are_ignored_only_when_asked():
    assert CompressConfig.from_dict({"search_engine": "optuna"}, ignore_unknown=True) == CompressConfig()


# CompressReport

from pathlib import Path  # noqa: E402

from edgeseg.artifacts.artifact_records import (Attempt, ExplainLayer, ExplainRecord, Repair,  # noqa: E402
                                                RepairLatency, RepairStep)
from edgeseg.artifacts.compress_records import (Baseline, ChannelsRecord, DecodeTuning, EdgeTpuRecord,  # noqa: E402
                                                Finetune, HeldOutRecord, InstanceRecord, PlanRow, PruningRecord,
                                                Recommendation, SanityRecord)
from edgeseg.artifacts.study_record import StoppedCandidate, StudyFront, StudyRecord, StudyRow  # noqa: E402
from edgeseg.artifacts.compress_report import SCHEMA, ArtifactRecord, CompressReport, read_compress_report  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


def _round_trips(report: CompressReport) -> None:
    written = report.to_dict()
    again = CompressReport.from_dict(written)
    assert again == report and again.to_dict() == written
    through_json = CompressReport.from_dict(json.loads(json.dumps(written)))
    assert through_json.to_dict() == json.loads(json.dumps(written))


def hand_built() -> CompressReport:
    """Every section filled, by hand: an instance model pruned both ways, with an Edge TPU check."""
    tuned = Finetune(steps=40, stopped_because="no better for 3 evaluations", seconds=12.5, best_step=30,
                     best_dice=0.81, dice_curve=[[10, 0.7], [30, 0.81]], metric="pq")
    explain = ExplainRecord(
        method="mixed", repaired_layers=["c1"], layers=[ExplainLayer("c1", position=0, macs=100, rmse_steps=2.5,
                                                                     dice_cost=0.1, kept_float=True)],
        dice_full_int8=0.7, repair=Repair(["c1"], True, 0.9, 0.8, "dice", [RepairStep(["c1"], 0.9)],
                                          RepairLatency("litert-cpu", 2, 1.0, 1.2, 1.2)), seconds=1.5)
    row = ArtifactRecord("model_int8.tflite", "tflite", "int8", 1000, True, "within budget", dice=0.9, pq=0.8,
                         f1=0.85, decided_by="pq", sha256="ab" * 32, mask_agreement=0.97, dice_per_class=[0.9, 0.8],
                         reference="channels.keras", opset=17,
                         attempts=[Attempt("ptq", 0.5, False, 1.0, "", extra={"pq": 0.5}), Attempt("mixed")],
                         explain=explain, extra={"decode": {"foreground": 0.5}})
    front = [StudyRow(3, 0.5, 0.9, 900, 1.5, "litert-cpu", "xeon", float_dice=0.92, deployable=True,
                      reason="within budget")]
    return CompressReport(
        schema=SCHEMA, model="m.keras", model_sha256="cd" * 32, data="data/",
        spec={"height": 32, "width": 32, "task": "instance", "instance_channels": 2},
        config=CompressConfig(prune="channels", formats=("tflite",), edgetpu=True),
        baseline=Baseline(dice=0.9, iou=0.8, images=8, flops=1000, pq=0.82, sq=0.9, rq=0.91, f1=0.88, aji=0.7,
                          count_mae=0.5, extra={"count_bias": 0.1}),
        artifacts=[row], timings={"load": 1.0, "artifacts": 20.5},
        pruning=PruningRecord(dice=0.88, pq=0.8, target=0.5, sparsity_model=0.49, steps=40, kept_dense=["out"],
                              path="pruned.keras", finetune=tuned),
        channels=ChannelsRecord(dice=0.87, pq=0.79, f1=0.8, flops=500, ratio=0.5, flops_ratio=0.5, parameters=10,
                                parameters_before=40, kept_filters={"c1": [2, 4]}, kept_whole=["out"],
                                path="channels.keras", finetune=tuned),
        edgetpu=EdgeTpuRecord("model_int8.tflite", 14, True, cpu_ops=[{"index": 3, "op": "X", "reason": "r"}],
                              compiled=None, reason="edgetpu_compiler is not installed"),
        plan=[PlanRow("base", "tflite", "int8", "int8", "model_int8.tflite", ["ptq"], None)],
        data_origin="given", data_summary="measured on data/", data_config=DataConfig(source="data/"),
        skipped=["skipped QAT: no"], sanity=SanityRecord(True, message="baseline sanity check passed"),
        recommended={"tflite": Recommendation("model_int8.tflite", "int8", 1000, dice=0.9, judged_by="pq",
                                              baseline_dice=0.9, pq=0.8, baseline_pq=0.82, decided_by="pq")},
        search=None, study=StudyRecord("optuna", "s.sqlite3", "litert-cpu", "xeon", 0.88, 10.0, 2, 0.5, front[0],
                                       front, [StudyFront("litert-cpu", "xeon", front)], [StoppedCandidate(4, 0.75)],
                                       "search/pareto.png", 2.0), finetune_skipped=None,
        instance=InstanceRecord(max_pq_drop=0.02, decode={"foreground": 0.5},
                                decode_tuning=DecodeTuning("compress", 8, HeldOutRecord(0.7, 0.8, 2, [4, 4])),
                                ladder=["ptq", "retuned-decoding"]),
        extra={"written_by_a_newer_edgeseg": {"x": 1}})


def test_a_hand_built_report_round_trips():
    report = hand_built()
    _round_trips(report)
    written = report.to_dict()
    assert written["written_by_a_newer_edgeseg"] == {"x": 1}  # unknown fields are kept
    assert written["config"]["formats"] == ["tflite"] and written["channels"]["finetune"]["metric"] == "pq"
    assert "pq" not in CompressReport.from_dict({**written, "baseline": {"dice": 0.5}}).to_dict()["baseline"]
    assert CompressReport.from_dict(written).recommended["tflite"].baseline_pq == 0.82


def test_every_section_is_typed():
    """A field of CompressReport or its sections may be a bare dict only where its content is
    open by design: the spec (schema-1 reports hold empty ones), the legacy bisection's `search`
    (older reports only, kept as written), the instance decoding settings, and `extra`."""
    import typing

    open_by_design = {("CompressReport", "spec"), ("CompressReport", "search"), ("InstanceRecord", "decode")}
    for record in (CompressReport, Baseline, PruningRecord, ChannelsRecord, Finetune, PlanRow, SanityRecord,
                   Recommendation, EdgeTpuRecord, InstanceRecord, DecodeTuning, HeldOutRecord, ArtifactRecord,
                   Attempt, ExplainRecord, ExplainLayer, Repair, RepairStep, RepairLatency, StudyRecord, StudyRow,
                   StudyFront, StoppedCandidate):
        for name, annotation in typing.get_type_hints(record).items():
            bare = annotation is dict or dict in typing.get_args(annotation)
            assert not bare or name == "extra" or (record.__name__, name) in open_by_design, (record, name)


# Sections as the writers before their typed records wrote them (explain, attempts, the study, the
# instance tuning): they read into the typed fields and write back the same JSON.
EXPLAIN_AS_WRITTEN = {
    "method": "mixed", "repaired_layers": ["dec1_conv2"],
    "layers": [{"name": "enc1_conv1", "position": 0, "macs": 27648, "mse": 0.01, "rmse_steps": 1.2,
                "dice_cost": 0.002, "kept_float": False},
               {"name": "dec1_conv2", "position": 9, "macs": 9216, "dice_cost": None, "kept_float": True}],
    "dice_full_int8": 0.81, "layer_error": "TFLite converter's QuantizationDebugger ...",
    "dice_all_float": 0.9, "dice_cost": "Dice lost when the layer alone is in int8 ...",
    "repair": {"float_layers": ["dec1_conv2"], "met": True, "score": 0.88, "int8_mac_share": 0.93,
               "ranked_by": "dice", "steps": [{"float_layers": ["dec1_conv2"], "score": 0.88}],
               "latency": {"runtime": "litert-cpu", "threads": 2, "full_int8_p50_ms": 0.4, "mixed_p50_ms": 0.5,
                           "ratio": 1.25}},
    "disagreement_share": 0.01, "plot": "explain/model_int8_tflite_layers.png",
    "heatmap": "explain/model_int8_tflite_disagreement.png", "seconds": 3.2}
STUDY_ROW = {"trial": 0, "ratio": 0.5, "dice": 0.9, "bytes": 5000, "latency_ms": 1.1, "runtime": "litert-cpu",
             "machine": "Xeon, 2 threads", "float_dice": 0.91, "gflops": 0.01, "parameters": 900, "key": "k",
             "sha256": "ef" * 32, "cached": False, "threads": 2, "deployable": True, "reason": "within budget"}
STUDY_AS_WRITTEN = {"engine": "optuna", "study": "/o.study/study.sqlite3", "target": "litert-cpu",
                    "machine": "Xeon, 2 threads", "floor": 0.88, "seconds": 12.0, "trials_run_here": 2,
                    "winner": 0.5, "winner_row": STUDY_ROW, "candidates": [STUDY_ROW],
                    "fronts": [{"runtime": "litert-cpu", "machine": "Xeon, 2 threads", "rows": [STUDY_ROW]}],
                    "pruned": [{"trial": 1, "ratio": 0.875, "float_dice": 0.2}], "plot": "search/pareto.png",
                    "int8_p50_ms": 1.4}
TUNING_AS_WRITTEN = {"tuned_by": "compress", "images": 8, "settings": {"foreground": 0.5}, "pq": 0.7,
                     "held_out": {"pq": 0.6, "f1": 0.7, "folds": 2, "images_per_fold": [4, 4],
                                  "fold_settings": [{"foreground": 0.5}], "scores": {"pq": 0.6, "f1": 0.7}}}


def test_sections_written_before_their_typed_records_read_into_them():
    raw = json.loads((FIXTURES / "compress_report_2.json").read_text())
    raw["artifacts"][0].update(explain=EXPLAIN_AS_WRITTEN, dice_per_class=[0.5], reference="channels.keras",
                               attempts=[{"method": "ptq", "dice": 0.8, "met_budget": False, "seconds": 1.0,
                                          "detail": "", "pq": 0.7}])
    raw.update(study=STUDY_AS_WRITTEN,
               instance={"max_pq_drop": 0.02, "decode": {}, "decode_tuning": TUNING_AS_WRITTEN, "ladder": ["ptq"],
                             "budget_metric": "pq"})
    report = CompressReport.from_dict(raw)
    artifact = report.artifacts[0]
    assert artifact.explain.repair.latency.ratio == 1.25 and artifact.explain.layers[1].rmse_steps is None
    assert artifact.attempts[0].extra == {"pq": 0.7} and artifact.reference == "channels.keras"
    assert artifact.mask_agreement == raw["artifacts"][0]["mask_agreement"] and "explain" not in artifact.extra
    assert report.study.fronts[0].rows[0].deployable and report.study.pruned[0].float_dice == 0.2
    assert report.instance.decode_tuning.held_out.images_per_fold == [4, 4]
    written = report.to_dict()
    assert {k: v for k, v in written.items() if k != "config"} == {k: v for k, v in raw.items() if k != "config"}
    _round_trips(report)
    legacy = {"target": "litert-cpu", "threads": 2, "seconds": 9.0, "int8_p50_ms": 1.0, "winner": None,
              "candidates": []}
    assert CompressReport.from_dict({**raw, "search": legacy}).search == legacy  # the bisection's, kept as is


def test_old_schema_reports_still_read():
    two = json.loads((FIXTURES / "compress_report_2.json").read_text())  # written by this version's pipeline
    report = CompressReport.from_dict(two)
    assert isinstance(report.config, CompressConfig) and report.config.prune == "channels"
    assert report.channels.finetune.steps > 0 and report.plan[0].source == "base"
    written = report.to_dict()
    added = set(written["config"]) - set(two["config"])  # options newer than the fixture: their defaults
    assert all(written["config"][k] == getattr(CompressConfig(), k) for k in added)
    assert {k: v for k, v in written.items() if k != "config"} == {k: v for k, v in two.items() if k != "config"}
    assert {k: v for k, v in written["config"].items() if k not in added} == two["config"]  # every key kept
    _round_trips(report)
    one = {"schema": "edgeseg.compress/1", "model": "m.keras", "model_sha256": "ab", "data": "synthetic",
           "spec": {}, "config": {"sparsity": 0.5, "search_engine": "bisect"}, "baseline": {"dice": 0.9},
           "artifacts": [{"path": "m.tflite", "format": "tflite", "precision": "int8", "bytes": 10,
                          "deployable": True, "reason": "", "dice": 0.9}]}
    old = CompressReport.from_dict(one)  # fields a removed option recorded are ignored
    assert old.config == CompressConfig() and old.recommended is None and old.sanity is None
    _round_trips(old)


@pytest.mark.parametrize("change, message", [
    (lambda r: r["config"].update(sparsity=2.0), "^report.json.config: --sparsity"),
    (lambda r: r["config"].update(normalize="0-255"), "^report.json.config.normalize must be one of"),
    (lambda r: r["config"].update(formats="tflite,pdf"), "report.json.config"),
    (lambda r: r["channels"]["finetune"].update(steps="many"), "'steps' has the wrong type"),
    (lambda r: r["plan"].append({"source": "base"}), r"report.json.plan\[\d+\]: missing field 'format'"),
    (lambda r: r["sanity"].pop("ok"), "missing field 'ok'"),
])
def test_a_malformed_section_is_one_data_error(change, message):
    raw = json.loads((FIXTURES / "compress_report_2.json").read_text())
    change(raw)
    with pytest.raises(DataError, match=message):
        CompressReport.from_dict(raw)


@pytest.mark.slow
def test_the_pipelines_report_round_trips(compressed):
    _, out, _ = compressed
    written = json.loads((out / "report.json").read_text())
    report = read_compress_report(out)
    assert report.to_dict() == written and json.loads(json.dumps(report.to_dict())) == written
    _round_trips(report)
    assert isinstance(report.baseline, Baseline) and isinstance(report.pruning, PruningRecord)
    assert all(isinstance(p, Recommendation) for p in report.recommended.values())


@pytest.mark.slow
def test_the_pipeline_returns_the_report_it_writes(tiny_model_path, tmp_path):
    from edgeseg.compress.pipeline import compress

    config = CompressConfig(data=DataConfig(synthetic_train=16, synthetic_val=8), prune="channels",
                            finetune_steps=4, finetune_min_steps=2, calibration_samples=8, formats=("tflite",),
                            verbose=0)
    returned = compress(tiny_model_path, config, tmp_path / "out")
    assert isinstance(returned, CompressReport) and returned == read_compress_report(tmp_path / "out")
    assert returned.channels.kept_filters and returned.config == config


@pytest.mark.parametrize("argv", [["compress", "m.keras"],
                                  ["compress", "m.keras", "--prune", "auto", "--data", "synthetic"],
                                  ["compress", "m.keras", "--prune", "channels", "--qat", "--formats", "tflite"]])
def test_the_command_lines_configs_round_trip(argv):
    """What the CLI builds (normalize None: the model's own) is what report.json records."""
    from edgeseg.cli.compress import compress_config
    from edgeseg.cli.main import build_parser

    config = compress_config(build_parser().parse_args(argv))
    assert CompressConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


# BenchReport: the machine, each runtime's availability, the floors and a row's profile are typed.

MACHINE = {"hostname": "h", "cpu": "Xeon", "cores": 2, "arch": "x86_64", "os": "Linux", "python": "3.11.7",
           "accelerators": [], "packages": {"numpy": "2.0"}, "threads": 2, "label": "h (Xeon, 2 cores)"}
PROFILE = {"available": True, "threads": 2, "method": "each op timed alone", "whole_ms": 1.5, "whole_cpu_ms": None,
           "partitions": 1, "ops": [{"index": 0, "node": "conv", "op": "CONV_2D", "dtype": "INT8",
                                     "inputs": [[1, 8, 8, 1]], "outputs": [[1, 8, 8, 4]], "ms": 0.2,
                                     "delegated": True, "backend": "XNNPACK", "macs": 2304, "gmac_s": 0.01}],
           "ops_ms": 0.2, "macs": 2304, "gmac_s": 0.002,
           "by_type": {"CONV_2D": {"count": 1, "ms": 0.2, "macs": 2304, "delegated": 1, "gmac_s": 0.01, "share": 1.0}}}
BENCH_AS_WRITTEN = {
    "schema": "edgeseg.bench/1", "created": "2026-12-06T22:00:00+00:00", "machine": MACHINE,
    "config": BenchConfig(runtimes=("litert-cpu",), threads=2).to_dict() | {"runtimes": ["litert-cpu"]},
    "data": "synthetic", "images": 8, "dice_floor": 0.88,
    "task": "instance", "pq_floor": 0.7, "spec": {"height": 8, "width": 8, "channels": 1},
    "runtimes": {"litert-cpu": {"device": "cpu", "available": True, "detail": "ai-edge-litert 2.3"}},
    "rows": [{"artifact": "m.tflite", "runtime": "litert-cpu", "status": "ok", "threads": 2, "p50_ms": 1.5,
              "task": "instance", "pq": 0.7, "f1": 0.8, "decode_ms": 0.1, "profile": PROFILE, "cv": 0.01}]}


def test_a_bench_report_reads_into_typed_fields_and_writes_what_it_read():
    from edgeseg.artifacts.bench_report import BenchReport

    report = BenchReport.from_dict(json.loads(json.dumps(BENCH_AS_WRITTEN)))
    assert report.machine.label == MACHINE["label"] and report.machine.packages == {"numpy": "2.0"}
    assert report.runtimes["litert-cpu"].available and (report.dice_floor, report.pq_floor) == (0.88, 0.7)
    profile = report.rows[0].profile
    assert profile.ops[0].macs == 2304 and profile.by_type["CONV_2D"].share == 1.0 and profile.whole_cpu_ms is None
    assert report.extra == {} and report.rows[0].extra == {"cv": 0.01}
    assert report.config == BenchConfig(runtimes=("litert-cpu",), threads=2)  # typed, as run
    written = report.to_dict()
    assert {k: v for k, v in written.items() if k != "rows"} == {k: v for k, v in BENCH_AS_WRITTEN.items() if k != "rows"}
    row = written["rows"][0]
    assert {k: row[k] for k in BENCH_AS_WRITTEN["rows"][0] if k != "profile"} == {
        k: v for k, v in BENCH_AS_WRITTEN["rows"][0].items() if k != "profile"}
    assert row["profile"] == {k: v for k, v in PROFILE.items() if k != "whole_cpu_ms"}  # absent reads as None
    assert BenchReport.from_dict(written) == report and BenchReport.from_dict(written).to_dict() == written
    with pytest.raises(DataError, match="no machine label"):
        BenchReport.from_dict({**BENCH_AS_WRITTEN, "machine": {"cpu": "Xeon"}})
