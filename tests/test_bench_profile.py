"""`edgeseg bench --profile`: MAC counts from shapes, onnxruntime's trace parsed into rows,
LiteRT's ops timed one by one with their delegation read from the whole model, the tables,
and the CLI end to end on the tiny model's compress output (slow)."""
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from edgeseg.bench.profile import op_macs, render_profile, with_macs
from edgeseg.runtimes.onnxrt_profile import parse_trace


@pytest.mark.parametrize("op, inputs, outputs, macs", [
    ("CONV_2D", [[1, 16, 16, 4], [8, 3, 3, 4], [8]], [[1, 16, 16, 8]], 16 * 16 * 8 * 3 * 3 * 4),
    ("DEPTHWISE_CONV_2D", [[1, 16, 16, 8], [1, 3, 3, 8], [8]], [[1, 16, 16, 8]], 16 * 16 * 8 * 3 * 3),
    ("TRANSPOSE_CONV", [[4], [8, 2, 2, 16], [1, 8, 8, 16]], [[1, 16, 16, 8]], 8 * 8 * 16 * 8 * 2 * 2),
    ("FULLY_CONNECTED", [[1, 32], [10, 32]], [[1, 10]], 320),
    ("Conv", [[1, 4, 16, 16], [8, 4, 3, 3], [8]], [[1, 8, 16, 16]], 16 * 16 * 8 * 3 * 3 * 4),
    ("QLinearConv", [[1, 4, 16, 16], [], [], [8, 4, 3, 3], [8], [8], [], [], [8]], [[1, 8, 16, 16]],
     16 * 16 * 8 * 3 * 3 * 4),
    ("ConvTranspose", [[1, 16, 8, 8], [16, 8, 2, 2]], [[1, 8, 16, 16]], 8 * 8 * 16 * 8 * 2 * 2),
    ("ADD", [[1, 4], [1, 4]], [[1, 4]], None),
    ("CONV_2D", [[1, 16, 16, 4]], [[1, 16, 16, 8]], None),  # no filter shape reported: no guess
])
def test_macs_of_known_ops(op, inputs, outputs, macs):
    assert op_macs(op, inputs, outputs) == macs


def _event(name, dur, op="Conv", provider="CPUExecutionProvider", cat="Node"):
    return {"cat": cat, "name": name, "dur": dur,
            "args": {"op_name": op, "provider": provider, "input_type_shape": [{"float": [1, 4, 8, 8]},
                                                                              {"float": [8, 4, 3, 3]}],
                     "output_type_shape": [{"float": [1, 8, 8, 8]}]}}


def test_onnxruntime_trace_becomes_median_rows_after_warmup():
    events = []
    for run, (conv, relu) in enumerate([(900, 500), (100, 20), (300, 40), (200, 30)]):
        events += [_event("conv0_kernel_time", conv), _event("conv0_fence_before", 7),
                   _event("relu0_kernel_time", relu, op="Relu"),
                   {"cat": "Session", "name": "model_run", "dur": conv + relu + 10}]
    parsed = parse_trace(events, skip_runs=1)
    conv, relu = parsed["ops"]
    assert (conv["node"], conv["op"], conv["backend"]) == ("conv0", "Conv", "CPUExecutionProvider")
    assert conv["ms"] == pytest.approx(0.2) and relu["ms"] == pytest.approx(0.03)  # the first run is dropped
    assert conv["inputs"] == [[1, 4, 8, 8], [8, 4, 3, 3]] and conv["outputs"] == [[1, 8, 8, 8]]
    assert parsed["whole_ms"] == pytest.approx(0.24)
    totals = with_macs(parsed | {"method": "trace", "partitions": None})
    assert totals["ops"][0]["macs"] == 8 * 8 * 8 * 36
    assert totals["ops"][0]["gmac_s"] == pytest.approx(8 * 8 * 8 * 36 / 0.2 / 1e6)
    assert list(totals["by_type"]) == ["Conv", "Relu"] and totals["by_type"]["Relu"]["macs"] == 0


def _single_conv_onnx(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.random.default_rng(0).standard_normal((16, 4, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1], name="conv0"),
         helper.make_node("Relu", ["y"], ["z"], name="relu0")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 16, 16])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 16, 16, 16])], [numpy_helper.from_array(weights, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path


def test_onnxruntime_profile_of_one_conv(tmp_path):
    from edgeseg.bench.profile import profile_row
    from edgeseg.runtimes.onnxrt import OnnxRuntimeCPU

    path = _single_conv_onnx(tmp_path / "conv.onnx")
    profile = profile_row(OnnxRuntimeCPU(), path, 1, np.zeros((1, 4, 16, 16), np.float32), runs=3)
    assert profile["available"], profile
    convs = [r for r in profile["ops"] if "Conv" in r["op"]]
    assert len(convs) == 1 and convs[0]["macs"] == 16 * 16 * 16 * 4 * 9
    assert all(r["ms"] >= 0 and r["backend"] == "CPUExecutionProvider" for r in profile["ops"])
    assert profile["whole_ms"] > 0 and profile["whole_cpu_ms"] > 0 and profile["macs"] == 16 * 16 * 16 * 4 * 9
    assert not list(tmp_path.glob("ort_profile*"))  # the trace went to a temporary folder


def test_runtime_without_profiler_and_failing_profiler_say_why(tmp_path):
    from edgeseg.bench.profile import profile_row
    from edgeseg.runtimes.onnxrt import OnnxRuntimeCPU

    class NoHook:
        name = "keras-cpu"

    assert profile_row(NoHook(), tmp_path / "m", 1, np.zeros(1), 1) == {
        "available": False, "reason": "keras-cpu has no per-op profiler in edgeseg"}
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    failed = profile_row(OnnxRuntimeCPU(), tmp_path / "bad.onnx", 1, np.zeros(1), 1)
    assert not failed["available"] and failed["reason"].startswith("could not profile")


def test_profile_table_lists_slowest_ops_and_totals_per_type():
    ops = [{"index": 0, "node": "a", "op": "CONV_2D", "inputs": [[1, 8, 8, 4], [8, 3, 3, 4]],
            "outputs": [[1, 8, 8, 8]], "ms": 0.5, "delegated": True, "backend": "XNNPACK"},
           {"index": 1, "node": "b", "op": "RESIZE_NEAREST_NEIGHBOR", "inputs": [[1, 8, 8, 8], [2]],
            "outputs": [[1, 16, 16, 8]], "ms": 0.9, "delegated": False, "backend": "builtin"}]
    profile = with_macs({"method": "m", "whole_ms": 1.5, "partitions": 2, "ops": ops})
    from edgeseg.artifacts.bench_report import BenchReport

    report = BenchReport.from_dict({"schema": "edgeseg.bench/1", "machine": {"label": "m"}, "rows": [
        {"artifact": "m.tflite", "runtime": "litert-cpu", "status": "ok", "threads": 1, "p50_ms": 1.5,
         "profile": {"available": True, "threads": 1, **profile}},
        {"artifact": "c.tflite", "runtime": "litert-cpu", "status": "ok", "threads": 1, "p50_ms": 1.5,
         "profile": {"available": True, "threads": 1, **profile, "whole_cpu_ms": 1.25}},
        {"artifact": "m.onnx", "runtime": "ort-cuda", "status": "unavailable", "threads": None,
         "profile": {"available": False, "reason": "no GPU"}},
        {"artifact": "x", "runtime": "litert-cpu", "status": "ok", "threads": 1, "p50_ms": 1.0}]})
    text = render_profile(report)
    lines = text.splitlines()
    assert "m.tflite on litert-cpu (1 thread(s)): whole model 1.50 ms wall, sum of ops 1.40 ms" in lines[0]
    assert "2 delegate partition(s)" in lines[0]
    assert "c.tflite on litert-cpu (1 thread(s)): whole model 1.50 ms wall (1.25 ms CPU)" in text
    slowest = [line for line in lines if line.strip().startswith(("0 ", "1 "))]
    assert slowest[0].split()[1] == "RESIZE_NEAREST_NEIGHBOR" and slowest[0].split()[-1] == "NO"
    assert slowest[1].split()[:2] == ["0", "CONV_2D"] and slowest[1].split()[-1] == "yes"
    assert "1x8x8x4" in slowest[1] and "0.0" in slowest[1]  # 18432 MACs = 0.0 MMAC at 1 decimal
    conv_total = next(line for line in lines if line.strip().startswith("CONV_2D"))
    assert conv_total.split()[1:3] == ["1", "0.500"] and conv_total.split()[-1] == "1/1"
    assert "m.onnx on ort-cuda" in text and "unavailable: no GPU" in text
    assert "profile: x on" not in text and "m.onnx on ort-cuda (default threads)" in text


@pytest.mark.slow
def test_litert_profile_times_every_op_and_reads_delegation(compressed):
    from edgeseg.artifacts.tflite import operators
    from edgeseg.bench.profile import profile_row
    from edgeseg.runtimes.litert import LiteRTCPU

    from edgeseg.runtimes.litert_upsample import cpu_model

    path = compressed[1] / "model_int8.tflite"
    infos, _, _ = operators(cpu_model(path)[0])  # the graph the CPU session runs
    profile = profile_row(LiteRTCPU(), path, 1, np.zeros((1, 32, 32, 1), np.float32), runs=3)
    assert profile["available"], profile
    assert [r["op"] for r in profile["ops"]] == [i.name for i in infos]
    assert "RESIZE_NEAREST_NEIGHBOR" not in {r["op"] for r in profile["ops"]}
    assert profile["whole_cpu_ms"] > 0  # one thread: the thread's CPU time is given too
    assert all(r["ms"] > 0 and isinstance(r["delegated"], bool) for r in profile["ops"])
    convs = [r for r in profile["ops"] if r["op"] == "CONV_2D"]
    assert convs and all(r["macs"] > 0 and r["gmac_s"] > 0 for r in convs)
    # XNNPACK takes every op of the U-Net once upsampling is copies: one partition.
    assert all(r["delegated"] for r in profile["ops"]) and profile["partitions"] == 1
    assert profile["whole_ms"] > 0 and profile["ops_ms"] > 0
    assert sum(t["count"] for t in profile["by_type"].values()) == len(infos)


@pytest.mark.slow
def test_bench_profile_cli_writes_rows_to_json_and_prints_the_table(compressed, tmp_path):
    from edgeseg.artifacts.bench_report import read_bench_report

    result = run_cli("bench", str(compressed[1]), "--runtimes", "litert-cpu,ort-cpu", "--min-runs", "3",
                     "--min-time", "0", "--warmup", "1", "--threads", "1", "--profile", "--profile-runs", "2",
                     "--json", str(tmp_path / "b.json"))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "b.json").read_text())
    rows = [r for r in report["rows"] if r["status"] == "ok"]
    assert rows and all(r["profile"]["available"] for r in rows), [r.get("profile") for r in rows]
    for row in rows:
        for op in row["profile"]["ops"]:
            assert {"op", "inputs", "outputs", "macs", "ms", "gmac_s", "delegated", "backend"} <= set(op)
    assert {r["runtime"] for r in rows} == {"litert-cpu", "ort-cpu"}
    assert "profile: model_int8.tflite on litert-cpu (1 thread(s))" in result.stdout
    assert read_bench_report(tmp_path / "b.json").rows[0].profile is not None  # the typed reader keeps it


def test_bench_profile_runs_must_be_positive(tmp_path):
    result = run_cli("bench", str(tmp_path), "--profile", "--profile-runs", "0")
    assert result.returncode == 2 and "--profile-runs must be at least 1" in result.stderr
    assert result.stderr.count("\n") == 1


def _resize(src_shape, dst_shape, align_corners=False, dst_scale=0.5):
    from types import SimpleNamespace as NS

    quant = lambda scale: NS(scale=[scale], zeroPoint=[-128])  # noqa: E731
    tensors = [NS(shape=src_shape, type=9, quantization=quant(0.5)),
               NS(shape=dst_shape, type=9, quantization=quant(dst_scale))]
    return NS(tensors=tensors), NS(inputs=[0], outputs=[1], builtinOptions=NS(alignCorners=align_corners))


@pytest.mark.parametrize("src, dst, kwargs, factors", [
    ([1, 8, 8, 4], [1, 16, 16, 4], {}, (2, 2)),
    ([1, 8, 8, 4], [1, 24, 16, 4], {}, (3, 2)),
    ([1, 8, 8, 4], [1, 12, 12, 4], {}, None),  # 1.5x samples differently from a copy
    ([1, 8, 8, 4], [1, 16, 16, 4], {"align_corners": True}, None),
    ([1, 8, 8, 4], [1, 16, 16, 4], {"dst_scale": 0.25}, None),  # would need requantizing
    ([8, 8, 4], [16, 16, 4], {}, None),
])
def test_upsampling_rewrite_only_takes_exact_copies(src, dst, kwargs, factors):
    from edgeseg.runtimes.litert_upsample import _factors

    assert _factors(*_resize(src, dst, **kwargs)) == factors


def _with_an_external_buffer(data: bytes) -> bytes:
    """The model with one buffer marked as stored after the flatbuffer, as litert-quantizer
    writes large models: its bytes must never be unpacked and packed again."""
    from edgeseg.artifacts.tflite import _pack, _unpack

    model = _unpack(data)
    buffer = next(b for b in model.buffers if b.data is not None and len(b.data))
    buffer.offset, buffer.size = 1 << 20, len(buffer.data)
    return _pack(model, len(data))


@pytest.mark.slow
def test_cpu_session_runs_upsampling_as_copies_inside_xnnpack(compressed):
    import hashlib

    from ai_edge_litert.interpreter import Interpreter

    from edgeseg.artifacts.tflite import operators
    from edgeseg.runtimes.litert import LiteRTSession, dequantize_output, quantize_input
    from edgeseg.runtimes.litert_profile import delegation
    from edgeseg.runtimes.litert_upsample import xnnpack_upsampling

    path = compressed[1] / "model_int8.tflite"
    before = path.read_bytes()
    rewritten, count = xnnpack_upsampling(before)
    assert count == 2  # the tiny U-Net's two decoder upsamplings
    names = [op.name for op in operators(rewritten)[0]]
    assert "RESIZE_NEAREST_NEIGHBOR" not in names and names.count("RESHAPE") == 4
    assert delegation(before, 1)[1] == 3 and delegation(rewritten, 1)[1] == 1  # one partition left
    assert xnnpack_upsampling(rewritten) == (rewritten, 0)
    assert xnnpack_upsampling(_with_an_external_buffer(before)) == (_with_an_external_buffer(before), 0)

    session = LiteRTSession(path, 1)
    assert session.upsamplings_rewritten == 2
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(before).digest()  # the file is untouched
    plain = Interpreter(model_path=str(path), num_threads=1)
    plain.allocate_tensors()
    source, target = plain.get_input_details()[0], plain.get_output_details()[0]
    for seed in range(3):
        x = np.random.default_rng(seed).random((1, 32, 32, 1), dtype=np.float32)
        plain.set_tensor(source["index"], quantize_input(x, source))
        plain.invoke()
        expected = dequantize_output(plain.get_tensor(target["index"]), target)
        np.testing.assert_array_equal(session.run(x), expected)  # the same bytes out
