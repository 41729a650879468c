"""Typed values end to end: CompressConfig and CompressReport read back exactly what they wrote."""
import dataclasses
import json

import pytest

from edgeseg.config import CompressConfig, DataConfig, ModelConfig, TrainConfig
from edgeseg.errors import DataError, UsageError

# A value of every CompressConfig field other than its default, and valid together.
CHANGED = {"data": DataConfig(source="/data", val_fraction=0.3, seed=4, synthetic_train=9, synthetic_val=3,
                              augment=False, balance="weight"),
           "normalize": "-1-1", "sparsity": 0.7, "max_dice_drop": 0.05, "max_pq_drop": 0.03, "qat": True,
           "finetune_steps": 50, "finetune_min_steps": 10, "finetune_time": 30.0, "finetune_lr": 1e-3,
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

from edgeseg.artifacts.compress_records import (Baseline, ChannelsRecord, EdgeTpuRecord, Finetune,  # noqa: E402
                                                InstanceRecord, PlanRow, PruningRecord, Recommendation,
                                                SanityRecord)
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
    row = ArtifactRecord("model_int8.tflite", "tflite", "int8", 1000, True, "within budget", dice=0.9, pq=0.8,
                         f1=0.85, decided_by="pq", sha256="ab" * 32, extra={"attempts": [{"method": "ptq"}]})
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
        search=None, study={"winner": None, "fronts": []}, finetune_skipped=None,
        instance=InstanceRecord(max_pq_drop=0.02, decode={"foreground": 0.5}, decode_tuning={"tuned_by": "compress"},
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
    open by design: the spec (schema-1 reports hold empty ones), search and study (search/'s own
    records), the instance decoding settings, and `extra`."""
    import typing

    open_by_design = {("CompressReport", "spec"), ("CompressReport", "search"), ("CompressReport", "study"),
                      ("InstanceRecord", "decode"), ("InstanceRecord", "decode_tuning"),
                      ("ChannelsRecord", "kept_filters")}
    for record in (CompressReport, Baseline, PruningRecord, ChannelsRecord, Finetune, PlanRow, SanityRecord,
                   Recommendation, EdgeTpuRecord, InstanceRecord, ArtifactRecord):
        for name, annotation in typing.get_type_hints(record).items():
            bare = annotation is dict or dict in typing.get_args(annotation)
            assert not bare or name == "extra" or (record.__name__, name) in open_by_design, (record, name)


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
