"""compress on instance models: the budget on PQ (Dice does not decide), the remedy ladder
(float head, then decoding re-tuned for the artifact and stored in it), the options refused
for instance models, and a compressed instance model bundled and decoded as verified."""
import json
from pathlib import Path

import numpy as np
import pytest

from edgeseg.compress import guard as guard_module
from edgeseg.scoring.budget import Budget
from edgeseg.scoring.verify import Verified
from edgeseg.config import CompressConfig, PreprocessSpec
from edgeseg.errors import UsageError
from edgeseg.quantize.methods import LADDERS, REGISTRY, methods_for

PQ_BUDGET = Budget(0.80, 0.02, metric="pq")


def scripted_pq(path: Path) -> Verified:
    """Dice near 1 whatever happens (objects merged), PQ as written into the candidate file."""
    return Verified("fake", {"dice": 0.99, "pq": float(Path(path).read_text()), "f1": 0.9}, 0.0)


def _candidates(*pqs):
    return [(name, (lambda pq=pq: str(pq).encode())) for name, pq in zip(LADDERS["instance"], pqs)]


def test_the_guard_refuses_an_artifact_that_loses_pq_whatever_its_dice(tmp_path):
    g = guard_module.guard(_candidates(0.70, 0.75, 0.76), tmp_path / "a.tflite", scripted_pq, PQ_BUDGET, print)
    assert not g.deployable and g.method == "retuned-decoding"  # the best PQ is kept, marked not deployable
    assert g.reason.startswith("PQ 0.7600 is below the floor 0.7800")
    assert [a.method for a in g.attempts] == ["ptq", "float-head", "retuned-decoding"]
    assert [a.to_dict()["pq"] for a in g.attempts] == [0.70, 0.75, 0.76]
    assert Budget(0.80, 0.02).judge({"dice": 0.99, "pq": 0.5})[0]  # the same scores pass a Dice budget


def test_the_guard_stops_at_the_first_remedy_within_the_pq_budget(tmp_path):
    g = guard_module.guard(_candidates(0.70, 0.79, 0.80), tmp_path / "a.tflite", scripted_pq, PQ_BUDGET, print)
    assert g.deployable and g.method == "float-head" and g.reason == "within budget with float-head"
    assert len(g.attempts) == 2


def test_the_instance_ladder_is_cheapest_first_and_in_the_registry():
    ladder = ("ptq", "float-head", "retuned-decoding", "float-head-retuned")
    assert methods_for("tflite", training=False, task="instance") == ladder
    assert methods_for("onnx", training=False, task="instance") == ladder
    assert methods_for("tflite", training=True, cheapest_only=True, task="instance") == ("ptq",)
    assert methods_for("tflite", training=True) == tuple(  # semantic models unchanged
        m for m in LADDERS["semantic"] if "tflite" in REGISTRY[m].builds)
    assert REGISTRY["retuned-decoding"].retunes and not REGISTRY["float-head"].retunes
    assert REGISTRY["float-head-retuned"].retunes and REGISTRY["retuned-decoding"].precision == "int8"
    assert "Edge TPU" in REGISTRY["float-head"].note and "Edge TPU" in REGISTRY["float-head-retuned"].note


def test_without_real_masks_the_float_models_instances_decide_and_nothing_is_tuned():
    assert methods_for("tflite", training=False, task="instance", real_masks=False) == ("ptq", "float-head")
    assert "not Edge TPU-complete" in REGISTRY["float-head"].note
    blind = Budget(0.80, 0.02, judged_by_dice=False, metric="pq")
    agreeing = {"dice": 0.9, "pq": 0.1, "mask_agreement": 0.99, "mean_abs_diff": 0.01}
    assert blind.judge({**agreeing, "agreement_pq": 0.95})[0]  # PQ against stand-in masks means nothing
    ok, why = blind.judge({**agreeing, "agreement_pq": 0.85})
    assert not ok and why.startswith("its instances differ from the float model's")


def test_options_refused_by_task():
    from edgeseg.scoring.task import task_for

    def check_task_options(config, spec):
        task_for(spec).check_options(config)

    semantic, instance = PreprocessSpec(32, 32), PreprocessSpec(32, 32, task="instance", instance_channels=2)
    with pytest.raises(UsageError, match="--max-pq-drop is the budget of instance models"):
        check_task_options(CompressConfig(max_pq_drop=0.05), semantic)
    check_task_options(CompressConfig(), semantic)
    with pytest.raises(UsageError, match="--prune auto is not available for instance models"):
        check_task_options(CompressConfig(prune="auto"), instance)
    check_task_options(CompressConfig(prune="channels"), instance)  # fine-tuned and judged by PQ
    check_task_options(CompressConfig(prune="magnitude", distill=0.5), instance)  # per-channel Bernoulli KL
    check_task_options(CompressConfig(qat=True), instance)  # QAT with the instance loss
    check_task_options(CompressConfig(max_pq_drop=0.05), instance)
    assert CompressConfig().pq_budget == 0.02 and CompressConfig(max_pq_drop=0.1).pq_budget == 0.1
    with pytest.raises(UsageError, match="--max-pq-drop"):
        CompressConfig(max_pq_drop=1.5)


def test_max_pq_drop_flag_reaches_the_config_and_defaults_to_none():
    from edgeseg.cli import build_parser
    from edgeseg.cli.compress import compress_config

    given = compress_config(build_parser().parse_args(["compress", "m.keras", "--max-pq-drop", "0.05"]))
    default = compress_config(build_parser().parse_args(["compress", "m.keras"]))
    assert (given.max_pq_drop, given.pq_budget) == (0.05, 0.05)
    assert (default.max_pq_drop, default.pq_budget) == (None, 0.02)


def _penalize_first_two_candidates(monkeypatch):
    """A scorer that really verifies, but scripts the PQ of the ladder's first two candidates
    (ptq, float-head) far below the budget, so the guard must reach the re-tuned decoding."""
    from edgeseg.scoring import instance

    real = instance.verify_instance

    def scripted(path, *args, **kwargs):
        verified = real(path, *args, **kwargs)
        if ".try0" in path.name or ".try1" in path.name:
            verified.scores["pq"] -= 0.5
        return verified

    monkeypatch.setattr(instance, "verify_instance", scripted)


@pytest.mark.slow
def test_compress_an_instance_model_walks_the_ladder_and_bundles_as_verified(instance_model, tmp_path,
                                                                             monkeypatch):
    from edgeseg.artifacts.describe import describe
    from edgeseg.config import DataConfig
    from edgeseg.deploy.bundle import make_bundle, open_bundle
    from edgeseg.instances.decode import DecodeSettings, decode
    from edgeseg.compress.pipeline import compress
    from edgeseg.models.io import load_model

    _penalize_first_two_candidates(monkeypatch)
    out = tmp_path / "out"
    config = CompressConfig(data=DataConfig(synthetic_train=16, synthetic_val=8), formats=("tflite", "onnx"),
                            calibration_samples=8, qat_steps=5, verbose=0)
    report = compress(instance_model, config, out).to_dict()  # report.json's form
    _, spec = load_model(instance_model)
    base = report["baseline"]
    assert base["pq"] > 0.3 and {"sq", "rq", "f1", "aji", "count_mae", "dice"} <= set(base)
    assert report["instance"]["max_pq_drop"] == 0.02 and report["instance"]["decode"] == spec.decode
    assert report["sanity"]["ok"]
    rows = {a["path"]: a for a in report["artifacts"]}
    assert set(rows) == {"model_float32.tflite", "model_float16.tflite", "model_dynamic_range.tflite",
                         "model_int8.tflite", "model_int8_float_io.tflite", "model.onnx", "model_int8.onnx"}
    for row in rows.values():  # every artifact judged by instance metrics, with its agreement to float
        assert None not in (row["pq"], row["f1"], row["agreement_pq"], row["aji"]), row["path"]
        stored = describe(out / row["path"]).spec["decode"]
        assert row["decode"] == stored, row["path"]  # verified with the settings it stores
    assert rows["model_float32.tflite"]["agreement_pq"] > 0.99
    for name in ("model_int8.tflite", "model_int8.onnx"):
        row = rows[name]
        tried = [a["method"] for a in row["attempts"]]
        assert tried == list(LADDERS["instance"][:len(tried)]) and len(tried) >= 3  # in order, up to a re-tune
        assert row["method"] in tried[2:]  # the scripted PQ ruled out ptq and float-head
        assert row["precision"] == REGISTRY[row["method"]].precision  # int8 when still fully integer
        assert ("not Edge TPU-complete" in row.get("note", "")) == (row["method"] == "float-head-retuned")
        # A re-tuned artifact is judged by its held-out PQ (decoding tuned without the images scored).
        decided = row["decided_by"]
        assert decided == ("pq_held_out" if REGISTRY[row["method"]].retunes else "pq")
        assert row["deployable"] == (row[decided] is not None and row[decided] >= base["pq"] - 0.02)
        for attempt in (a for a in row["attempts"] if "pq" in a):  # those that were scored
            assert ("pq_held_out" in attempt) == REGISTRY[attempt["method"]].retunes
    assert rows["model_int8_float_io.tflite"]["method"] == rows["model_int8.tflite"]["method"]  # follows it
    assert "judged by PQ" in (out / "report.md").read_text()
    if any(row["decided_by"] == "pq_held_out" for row in rows.values()):
        assert "held-out PQ" in (out / "report.md").read_text()

    # The bundle carries the artifact's own settings; the device decodes exactly as verified.
    bundle = make_bundle(out, "model_int8.tflite", tmp_path / "b.zip", allow_undeployable=True)
    assert bundle["preprocessing"]["decode"] == rows["model_int8.tflite"]["decode"]
    segmenter = open_bundle(tmp_path / "b.zip")
    assert segmenter.spec.decode == rows["model_int8.tflite"]["decode"]
    image = (np.random.default_rng(0).random((32, 32)) * 255).astype(np.uint8)
    result = segmenter.predict(image)
    settings = DecodeSettings.from_dict(rows["model_int8.tflite"]["decode"])
    assert np.array_equal(result.mask, decode(result.probabilities, settings, grid=(32, 32)).labels)
    json.dumps(report)  # report.json is plain JSON

    # bench on the compress output: PQ with each artifact's own settings, decode timed, the applied PQ floor
    from edgeseg.bench.run import bench
    from edgeseg.config import BenchConfig

    benched = bench([out / "model_int8.tflite"], BenchConfig(runtimes=("litert-cpu",), min_runs=3, min_time=0.0,
                                                             warmup=1), log=lambda _: None)
    assert benched.pq_floor == pytest.approx(base["pq"] - 0.02)
    (row,) = [r for r in benched.rows if r.status == "ok"]
    assert row.pq == pytest.approx(rows["model_int8.tflite"]["pq"], abs=1e-6)  # same data, same decoding
    assert row.decode_ms > 0


@pytest.mark.slow
def test_quantization_aware_training_of_an_instance_model_converts_to_int8(instance_model):
    from edgeseg.config import DataConfig
    from edgeseg.data.instance_data import load_instance_splits
    from edgeseg.models.io import load_model
    from edgeseg.quantize.qat_instance import instance_quantization_aware
    from edgeseg.quantize.tflite_int8 import convert_integer
    from edgeseg.runtimes.litert import LiteRTSession
    from edgeseg.training.finetune import FinetuneBudget

    model, spec = load_model(instance_model)
    train, _ = load_instance_splits(DataConfig(synthetic_train=16, synthetic_val=2), spec)
    budget = FinetuneBudget(max_steps=4, min_steps=0, learning_rate=1e-4)
    qat = instance_quantization_aware(model, train, budget, 8, verbose=0)
    images, _ = train.batch(range(8))
    data = convert_integer(qat, images)
    path = instance_model.with_name("qat_int8.tflite")
    path.write_bytes(data)
    out = LiteRTSession(path, threads=1).run(images[:2])
    assert out.shape == (2, 32, 32, 2) and out.min() >= 0.0 and out.max() <= 1.0
    assert np.abs(out - model.predict(images[:2], verbose=0)).mean() < 0.1  # 4 steps at 1e-4 change little


@pytest.mark.slow
def test_the_cli_refuses_prune_auto_on_an_instance_model_in_one_line(instance_model, tmp_path):
    from conftest import last_error_line, run_cli

    result = run_cli("compress", str(instance_model), "--prune", "auto", "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "--prune auto is not available for instance models" in last_error_line(result)
    assert "--prune channels" in last_error_line(result) and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
