"""Latency statistics, the interleaved harness and the CI gate, driven by a fake runtime on a
scripted clock: no figure in these tests was timed."""
import numpy as np
import pytest

from edgeseg.bench.artifacts import Artifact
from edgeseg.bench.gate import Tolerances, compare, parse_fail_on
from edgeseg.bench.harness import plan, run_rows
from edgeseg.bench.timing import LatencyStats
from edgeseg.config import BenchConfig, DataConfig, PreprocessSpec
from edgeseg.data.dataset import load_splits
from edgeseg.errors import UsageError
from edgeseg.runtimes.base import RuntimeUnavailable
from edgeseg.runtimes.fake import FakeRuntime, ScriptedClock


def test_stats_of_known_samples():
    stats = LatencyStats.from_ns([ms * 1_000_000 for ms in range(1, 11)])  # 1..10 ms
    assert stats.runs == 10
    assert stats.mean_ms == pytest.approx(5.5)
    assert stats.min_ms == pytest.approx(1.0)
    assert stats.p50_ms == pytest.approx(5.5)
    assert stats.p90_ms == pytest.approx(9.1)
    assert stats.p99_ms == pytest.approx(9.91)
    assert stats.std_ms == pytest.approx(3.02765, abs=1e-4)  # sample standard deviation
    assert stats.cv == pytest.approx(3.02765 / 5.5, abs=1e-4)
    assert stats.fps == pytest.approx(1000 / 5.5)
    with pytest.raises(ValueError):
        LatencyStats.from_ns([])


def _artifact(name, fmt="tflite", precision="float32", size=1000):
    from pathlib import Path

    return Artifact(name, Path(name), fmt, precision, size, size // 2, "0" * 64)


@pytest.fixture(scope="module")
def val():
    return load_splits(DataConfig(synthetic_val=4), PreprocessSpec(32, 32))[1]


def _config(**kw):
    return BenchConfig(**({"warmup": 2, "min_runs": 10, "min_time": 0.5, "round_time": 0.05} | kw))


def test_rows_get_exact_scripted_latencies_and_meet_min_runs_and_time(val):
    clock = ScriptedClock()
    fast = FakeRuntime("fast", clock, {"a.tflite": [2.0]}, formats=("tflite",))
    slow = FakeRuntime("slow", clock, {"a.tflite": [40.0, 60.0]}, formats=("tflite",))
    rows = plan([_artifact("a.tflite")], [fast, slow])
    run_rows(rows, val, _config(), clock, log=lambda _: None)
    a, b = rows
    assert a.status == b.status == "ok"
    assert a.stats.p50_ms == pytest.approx(2.0) and a.stats.cv == 0
    assert b.stats.p50_ms == pytest.approx(50.0) and b.stats.min_ms == pytest.approx(40.0)
    for row in rows:
        assert row.stats.runs >= 10 and sum(row.samples_ns) >= 0.5e9
    # Dice is scored on the same data for every row, and warm-up runs are not timed.
    assert a.scores["images"] == b.scores["images"] == 4
    assert fast.sessions[0].calls == 2 + 1 + 5 + a.stats.runs  # warm-up, one Dice batch, estimate, timed


def test_interleaving_spreads_machine_drift_over_every_row(val):
    """The machine slows down steadily while benchmarking. Timed one after the other, the
    second row would absorb all of the slowdown; interleaved, the ratio stays true."""
    clock = ScriptedClock(start_ns=0)
    start = clock.now

    class Drifting(FakeRuntime):
        def load(self, path, threads=None):
            session = super().load(path, threads)
            base = self.default_ms

            def run(batch):
                session.calls += 1
                slowdown = 1 + (clock.now - start) / 2e9  # +50% per second of benchmarking
                clock.advance_ms(base * slowdown)
                return np.clip(batch[..., :1], 0, 1)

            session.run = run
            return session

    a = Drifting("a", clock, default_ms=5.0, formats=("tflite",))
    b = Drifting("b", clock, default_ms=10.0, formats=("tflite",))
    rows = plan([_artifact("m.tflite")], [a, b])
    run_rows(rows, val, _config(min_time=2.0, round_time=0.02), clock, log=lambda _: None)
    ratio = rows[1].stats.p50_ms / rows[0].stats.p50_ms
    assert ratio == pytest.approx(2.0, rel=0.05)


def test_unavailable_and_failing_runtimes_report_reasons_never_numbers(val):
    clock = ScriptedClock()
    absent = FakeRuntime("gpu-x", clock, available=(False, "no GPU here"), device="gpu", formats=("tflite",))

    class CannotStart(FakeRuntime):
        def load(self, path, threads=None):
            raise RuntimeUnavailable("provider fell back to the CPU")

    class Broken(FakeRuntime):
        def load(self, path, threads=None):
            raise ValueError("bad flatbuffer\nsecond line")

    ok = FakeRuntime("cpu-x", clock, formats=("tflite",))
    runtimes = [absent, CannotStart("cuda-x", clock, formats=("tflite",)), Broken("broken", clock, formats=("tflite",)), ok]
    rows = plan([_artifact("m.tflite"), _artifact("m.onnx", fmt="onnx")], runtimes)
    assert [r.runtime.name for r in rows] == ["gpu-x", "cuda-x", "broken", "cpu-x"]  # no runtime takes .onnx
    run_rows(rows, val, _config(), clock, log=lambda _: None)
    dicts = [row.to_dict(cv_warn=0.1) for row in rows]
    assert [d["status"] for d in dicts] == ["unavailable", "unavailable", "error", "ok"]
    assert dicts[0]["reason"] == "no GPU here"
    assert "fell back" in dicts[1]["reason"]
    assert dicts[2]["reason"] == "could not load: ValueError: bad flatbuffer"
    for d in dicts[:3]:
        assert all(d[k] is None for k in ("p50_ms", "mean_ms", "runs", "fps", "dice", "load_ms", "peak_rss_mb"))
    assert dicts[3]["p50_ms"] == pytest.approx(10.0) and dicts[3]["dice"] is not None


@pytest.mark.parametrize("text, expected", [
    ("latency=+10%,dice=-0.005,size=+2%", Tolerances(0.10, 0.005, 0.02)),
    ("latency=+25%", Tolerances(latency=0.25)),
    (" dice = -0.01 ", Tolerances(dice=0.01)),
])
def test_fail_on_parses(text, expected):
    assert parse_fail_on(text) == expected


@pytest.mark.parametrize("text", ["latency=10", "dice=+0.01", "dice=-1%", "size=-2%", "speed=+1%", "",
                                  "latency=+1%,latency=+2%"])
def test_fail_on_rejects_what_it_cannot_read(text):
    with pytest.raises(UsageError):
        parse_fail_on(text)


def _row(artifact, runtime, p50, dice=0.95, size=1000, precision="int8", status="ok"):
    return {"artifact": artifact, "runtime": runtime, "p50_ms": p50, "dice": dice, "bytes": size,
            "precision": precision, "status": status, "reason": "" if status == "ok" else "gone"}


def _report(f32_ms, int8_ms, dice=0.95, size=1000, int8_status="ok"):
    return {"rows": [_row("f32.tflite", "litert-cpu", f32_ms, precision="float32", size=4000),
                     _row("int8.tflite", "litert-cpu", int8_ms, dice=dice, size=size, status=int8_status)]}


TOL = Tolerances(latency=0.10, dice=0.005, size=0.02)


def test_gate_ignores_a_uniformly_slower_machine():
    baseline = _report(f32_ms=30.0, int8_ms=20.0)
    ci_machine = _report(f32_ms=75.0, int8_ms=50.0)  # 2.5x slower everywhere, same ratios
    regressions, notes = compare(ci_machine, baseline, TOL)
    assert regressions == []
    assert any("f32.tflite @ litert-cpu: latency not compared" in n for n in notes)


def test_gate_names_each_regression():
    baseline = _report(f32_ms=30.0, int8_ms=20.0)
    worse = _report(f32_ms=30.0, int8_ms=24.0, dice=0.94, size=1100)  # +20% rel., -0.01 Dice, +10% size
    regressions, _ = compare(worse, baseline, TOL)
    assert len(regressions) == 3
    assert all(r.startswith("int8.tflite @ litert-cpu: ") for r in regressions)
    assert "latency +20.0% relative to f32.tflite @ litert-cpu" in regressions[2]
    assert "Dice 0.9500 -> 0.9400" in regressions[0]
    assert "size 1,000 -> 1,100 bytes (+10.0%" in regressions[1]


def test_gate_tolerates_changes_within_limits_and_honours_reference():
    baseline = _report(f32_ms=30.0, int8_ms=20.0)
    within = _report(f32_ms=30.0, int8_ms=21.5, dice=0.946, size=1015)
    assert compare(within, baseline, TOL)[0] == []
    # Against the int8 model as reference, the float model got 25% slower relatively.
    assert len(compare(_report(30.0, 16.0), baseline, TOL, reference="int8.tflite")[0]) == 1


def test_gate_fails_rows_that_disappeared_or_became_unavailable():
    baseline = _report(f32_ms=30.0, int8_ms=20.0)
    gone = {"rows": baseline["rows"][:1]}
    assert compare(gone, baseline, TOL)[0] == ["int8.tflite @ litert-cpu: measured in the baseline, missing from this run"]
    unavailable = _report(30.0, 20.0, int8_status="unavailable")
    assert "now unavailable: gone" in compare(unavailable, baseline, TOL)[0][0]
