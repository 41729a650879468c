"""bench on instance models, driven by a fake runtime and a scripted decoder on a scripted clock
(no figure here was timed), plus one slow end-to-end run on a real tiny int8 instance U-Net."""
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from edgeseg.artifacts.bench_report import BenchReport
from edgeseg.bench.artifacts import Artifact, resolve_spec
from edgeseg.bench.gate import Tolerances, compare, parse_fail_on
from edgeseg.bench.harness import plan, run_rows
from edgeseg.bench.instance import load_validation
from edgeseg.bench.report import render_csv, render_markdown, render_terminal
from edgeseg.bench.run import with_ratios
from edgeseg.config import BenchConfig, DataConfig, PreprocessSpec
from edgeseg.instances.decode import DecodeSettings
from edgeseg.errors import DataError
from edgeseg.runtimes.fake import FakeRuntime, FakeSession, ScriptedClock

SHARED = DecodeSettings(foreground=0.5, seed=0.5).to_dict()
OWN = DecodeSettings(foreground=0.4, seed=0.6, method="nearest").to_dict()  # as compress re-tunes one artifact
SPEC = PreprocessSpec(32, 32, task="instance", instance_channels=2, decode=SHARED)


class InstanceSession(FakeSession):
    """Instance-like maps from the image: foreground = brightness, distance = normalized
    distance to the background, so touching blobs decode into several objects."""

    def run(self, batch):
        bright = super().run(batch)[..., 0]
        maps = []
        for image in bright:
            inner = ndimage.distance_transform_edt(image > 0.3)
            maps.append(np.stack([image, inner / max(inner.max(), 1.0)], -1))
        self.outputs = np.asarray(maps, np.float32)
        return self.outputs


class InstanceRuntime(FakeRuntime):
    def load(self, path, threads=None):
        session = InstanceSession(self.clock, self.latencies_ms.get(Path(path).name, [self.default_ms]))
        self.sessions.append(session)
        return session


class ScriptedDecoder:
    """Stands in for deploy.instances.decode in the timing loop: takes `ms` on the clock and
    records what it was given."""

    def __init__(self, clock, ms):
        self.clock, self.ms, self.calls = clock, ms, []

    def __call__(self, probs, settings):
        self.calls.append((probs, settings))
        self.clock.advance_ms(self.ms)


def _artifact(name, spec=None, precision="int8"):
    return Artifact(name, Path(name), "tflite", precision, 1000, 500, "0" * 64, spec)


@pytest.fixture(scope="module")
def val():
    return load_validation(DataConfig(synthetic_val=4), SPEC)


def _config():
    return BenchConfig(warmup=1, min_runs=10, min_time=0.2, round_time=0.05)


def _bench(val, clock, decoder, artifacts, ms=None):
    runtime = InstanceRuntime("litert-cpu", clock, ms or {}, formats=("tflite",))
    rows = plan(artifacts, [runtime])
    run_rows(rows, val, _config(), clock, log=lambda _: None, decoder=decoder)
    return rows, runtime


def test_instance_rows_time_decode_beside_the_network_and_score_pq(val):
    clock = ScriptedClock()
    decoder = ScriptedDecoder(clock, ms=3.0)
    rows, _ = _bench(val, clock, decoder, [_artifact("m_int8.tflite", SPEC.to_dict())], {"m_int8.tflite": [12.0]})
    row = rows[0]
    d = row.to_dict(cv_warn=0.1)
    assert d["status"] == "ok" and d["task"] == "instance"
    assert d["p50_ms"] == pytest.approx(12.0)  # the network alone: decoding is not in p50
    assert d["decode_ms"] == pytest.approx(3.0) and d["decode_share"] == pytest.approx(0.25)
    assert d["decode_runs"] == d["runs"]  # one decode after every timed network run
    assert 0.0 <= d["pq"] <= 1.0 and 0.0 <= d["f1"] <= 1.0 and d["images"] == 4
    assert d["true_objects"] > 0 and d["dice"] is None  # instances are scored by PQ/F1, not Dice
    assert d["decode_settings"] == SHARED


def test_decode_cycles_through_the_artifacts_own_outputs_with_its_own_settings(val):
    clock = ScriptedClock()
    decoder = ScriptedDecoder(clock, ms=1.0)
    spec = SPEC.to_dict() | {"decode": OWN}
    rows, _ = _bench(val, clock, decoder, [_artifact("retuned.tflite", spec)])
    # The scoring pass saw the 4 images; the decoder got those same maps, in turn, each time
    # with the settings stored in this artifact, not the shared spec's.
    assert len(decoder.calls) == rows[0].stats.runs
    assert all(s == DecodeSettings(**OWN) for _, s in decoder.calls)
    assert rows[0].to_dict(0.1)["decode_settings"] == OWN
    expected = InstanceSession(clock, [1.0]).run(val.batch(range(4))[0])  # the maps the scoring pass got
    for n, (probs, _) in enumerate(decoder.calls):
        assert np.array_equal(probs, expected[n % 4])


def test_semantic_rows_carry_no_instance_fields(val):
    from edgeseg.data.dataset import load_splits

    clock = ScriptedClock()
    semantic = load_splits(DataConfig(synthetic_val=4), PreprocessSpec(32, 32))[1]
    rows = plan([_artifact("s.tflite")], [FakeRuntime("litert-cpu", clock, formats=("tflite",))])
    run_rows(rows, semantic, _config(), clock, log=lambda _: None)
    d = rows[0].to_dict(0.1)
    assert d["dice"] is not None and "pq" not in d and "decode_ms" not in d and rows[0].decoder is None


def _report(val):
    clock = ScriptedClock()
    decoder = ScriptedDecoder(clock, ms=2.0)
    artifacts = [_artifact("f32.tflite", SPEC.to_dict(), "float32"), _artifact("int8.tflite", SPEC.to_dict())]
    rows, _ = _bench(val, clock, decoder, artifacts, {"f32.tflite": [20.0], "int8.tflite": [8.0]})
    machine = {"label": "test box", "os": "linux", "arch": "x86_64", "threads": 2, "accelerators": [],
               "packages": {}}
    return {"schema": "edgeseg.bench/1", "machine": machine, "config": {"runtimes": ["auto"]}, "task": "instance",
            "rows": with_ratios([r.to_dict(0.1) for r in rows])}


def test_tables_show_pq_f1_and_decode_instead_of_dice(val):
    report = BenchReport.from_dict(_report(val))
    header = render_terminal(report).splitlines()[0]
    for column in ("PQ", "F1@0.5", "p50 ms", "Decode ms", "Decode %"):
        assert column in header
    assert "Dice" not in header
    assert "Decode ms: p50 of decoding" in render_terminal(report)
    md = render_markdown(report)
    assert "| Decode ms | Decode % |" in md and "| 2.00 | 25.0% |" in md  # int8: 2 ms decode / 8 ms network
    lines = render_csv(report).splitlines()
    header = lines[0].split(",")
    int8 = dict(zip(header, next(line for line in lines if ",int8.tflite," in line).split(",")))
    assert float(int8["decode_ms"]) == pytest.approx(2.0) and float(int8["decode_share"]) == pytest.approx(0.25)
    assert 0 <= float(int8["pq"]) <= 1


def test_plot_draws_pq_and_its_floor(val):
    pytest.importorskip("matplotlib")
    from edgeseg.bench.report import render_plot

    report = BenchReport.from_dict(_report(val) | {"pq_floor": 0.0})
    assert render_plot(report)[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_report_reads_instance_rows_and_old_reports(val):
    report = _report(val)
    typed = BenchReport.from_dict(json.loads(json.dumps(report)))
    assert typed.rows[1].task == "instance" and typed.rows[1].decode_ms == pytest.approx(2.0)
    old = {"schema": "edgeseg.bench/1", "machine": report["machine"],
           "rows": [{"artifact": "a.tflite", "runtime": "litert-cpu", "status": "ok", "p50_ms": 3.0, "dice": 0.9}]}
    assert BenchReport.from_dict(old).rows[0].pq is None  # written before instance fields existed
    for broken, message in ((dict(decode_ms=None), "decode_ms"), (dict(pq=1.5), "pq in [0, 1]")):
        bad = json.loads(json.dumps(report))
        bad["rows"][1].update(broken)
        with pytest.raises(DataError, match=message.replace("[", r"\[").replace("]", r"\]")):
            BenchReport.from_dict(bad)


def test_gate_fails_on_a_pq_drop_and_ignores_pq_for_semantic_rows(val):
    base = _report(val)
    assert parse_fail_on("pq=-0.01") == Tolerances(pq=0.01)
    worse = json.loads(json.dumps(base))
    worse["rows"][1]["pq"] = base["rows"][1]["pq"] - 0.05
    regressions, _ = compare(worse, base, Tolerances(pq=0.01, dice=0.005))
    assert regressions == [f"int8.tflite @ litert-cpu: PQ {base['rows'][1]['pq']:.4f} -> "
                           f"{worse['rows'][1]['pq']:.4f} (-0.0500, limit -0.01)"]
    assert compare(base, base, Tolerances(pq=0.01, dice=0.005))[0] == []


def test_merge_keeps_the_instance_columns(val, tmp_path):
    from edgeseg.bench.merge import merge

    report = _report(val)
    other = json.loads(json.dumps(report))
    other["machine"]["label"] = "jetson"
    for name, r in (("a.json", report), ("b.json", other)):
        (tmp_path / name).write_text(json.dumps(r))
    merged = merge([tmp_path / "a.json", tmp_path / "b.json"])
    table = render_terminal(merged, with_machine=True)
    assert table.splitlines()[0].split()[:2] == ["Machine", "Artifact"] and "Decode ms" in table
    assert sum("jetson" in line and "25.0%" in line for line in table.splitlines()) == 1  # the int8 row


def test_an_instance_artifact_is_recognised_from_its_own_spec():
    spec = SPEC.to_dict()
    a, b = _artifact("a.tflite", spec), _artifact("b.tflite", spec | {"decode": OWN})
    resolved, source = resolve_spec([a, b], None, None)
    assert resolved.task == "instance" and resolved.instance_channels == 2 and "stored in the artifacts" in source
    semantic, _ = resolve_spec([_artifact("c.tflite", PreprocessSpec(32, 32).to_dict())], None, None)
    assert semantic.task == "semantic"


@pytest.mark.slow
def test_bench_on_a_real_int8_instance_unet(tmp_path):
    """Tiny 32x32 instance U-Net -> int8 TFLite carrying an instance spec (and a copy whose spec
    holds re-tuned decode settings) -> `edgeseg bench` on the bare files, on a machine without
    TensorFlow: the task is read from the files, every row carries decode_ms, PQ and F1, and the
    gate passes against the run's own JSON."""
    from conftest import run_cli, run_python_without_tensorflow
    from edgeseg.artifacts.tflite import finalize
    from edgeseg.config import ModelConfig
    from edgeseg.data.instance_data import load_instance_splits
    from edgeseg.models.registry import build_model, spec_for
    from edgeseg.quantize.tflite_int8 import calibrate, quantize_calibrated

    config = ModelConfig(preset="tiny", task="instance")
    spec = spec_for(config)
    train, _ = load_instance_splits(DataConfig(synthetic_train=8, synthetic_val=1), spec)
    converted = quantize_calibrated(calibrate(build_model(config), train.batch(range(8))[0]))
    (tmp_path / "model_int8.tflite").write_bytes(finalize(converted, spec.to_dict()))
    (tmp_path / "retuned_int8.tflite").write_bytes(finalize(converted, spec.to_dict() | {"decode": OWN}))
    out = tmp_path / "bench.json"
    files = [str(tmp_path / "model_int8.tflite"), str(tmp_path / "retuned_int8.tflite")]
    code = (f"from edgeseg.cli import main; import sys; rc = main(['bench', *{files!r}, '--runtimes', 'litert-cpu', "
            f"'--min-runs', '5', '--min-time', '0', '--warmup', '1', '--data', 'synthetic', '--synthetic-val', '4', '--json', {str(out)!r}]); "
            "assert 'tensorflow' not in sys.modules; sys.exit(rc)")
    result = run_python_without_tensorflow(code)
    assert result.returncode == 0, result.stderr[-3000:]
    header = next(line for line in result.stdout.splitlines() if line.startswith("Artifact"))
    assert all(c in header for c in ("PQ", "F1@0.5", "Decode ms", "Decode %")) and "Dice" not in header
    report = json.loads(out.read_text())
    assert report["task"] == "instance" and report["spec"]["task"] == "instance"
    rows = {r["artifact"]: r for r in report["rows"]}
    for row in rows.values():
        assert row["status"] == "ok" and row["task"] == "instance" and row["images"] == 4
        assert row["decode_ms"] > 0 and row["decode_runs"] == row["runs"] >= 5
        assert 0 <= row["pq"] <= 1 and 0 <= row["f1"] <= 1
    assert rows["model_int8.tflite"]["decode_settings"] == spec.decode
    assert rows["retuned_int8.tflite"]["decode_settings"] == OWN
    gate = run_cli("bench", *files, "--runtimes", "litert-cpu", "--min-runs", "5", "--min-time", "0",
                   "--data", "synthetic", "--synthetic-val", "4", "--baseline", str(out), "--fail-on", "pq=-0.0,size=+0%")
    assert gate.returncode == 0 and "gate: 0 regression(s)" in gate.stdout, gate.stdout[-2000:] + gate.stderr[-2000:]


def test_floors_come_from_the_budget_each_task_builds_from_the_compress_report():
    from edgeseg.artifacts.compress_report import CompressReport
    from edgeseg.bench.context import report_budgets

    def report(baseline, config, **more):
        return CompressReport.from_dict({"schema": "edgeseg.compress/2", "model": "m.keras", "model_sha256": "ab",
                                         "data": "d", "spec": {}, "artifacts": [], "baseline": baseline,
                                         "config": config, **more})

    def floors(report):
        return {metric: budget.floor for metric, budget in report_budgets(report).items()}

    instance = report({"dice": 0.7, "pq": 0.80, "f1": 0.9}, {"max_pq_drop": 0.02, "max_dice_drop": 0.01})
    assert floors(instance) == {"pq": pytest.approx(0.78), "dice": pytest.approx(0.69)}
    applied = report({"dice": 0.7, "pq": 0.8}, {"max_pq_drop": None}, instance={"max_pq_drop": 0.02})
    assert floors(applied)["pq"] == pytest.approx(0.78)  # the default budget, as compress applied it
    semantic = report({"dice": 0.9}, {"max_dice_drop": 0.01})
    assert floors(semantic) == {"dice": pytest.approx(0.89)}  # a semantic report has no PQ
    assert floors(report({"dice": 0.9}, {"max_dice_drop": 0.01}, data_origin="none")) == {}  # agreement alone
    failed = report_budgets(report({"dice": 0.9}, {"max_dice_drop": 0.01},
                                   sanity={"ok": False, "message": "float baseline failed"}))["dice"]
    assert failed.baseline_problem == "float baseline failed" and not failed.admits(0.95)
