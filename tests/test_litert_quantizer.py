"""litert-quantizer as the TFLite int8 engine: the shipped int8 files are its, say so in their
records, keep their weights inside the flatbuffer and run in LiteRT; the converter stays only for
the methods that name why."""
import json

import numpy as np
import pytest

from edgeseg.quantize.methods import CONVERTER_REASONS, REGISTRY, tflite_engine


def test_every_tflite_method_names_its_engine_and_the_converter_only_with_a_reason():
    tflite_methods = {m.name for m in REGISTRY.values() if "tflite" in m.builds}
    assert set(CONVERTER_REASONS) <= tflite_methods
    for name in tflite_methods:
        engine = tflite_engine(name)
        if name in CONVERTER_REASONS:
            assert engine["engine"] == "tflite-converter" and engine["engine_reason"]
        else:
            assert engine["engine"].startswith("litert-quantizer 0.11")
    assert tflite_engine("ptq")["engine"].startswith("litert-quantizer")  # what ships first


@pytest.mark.slow
def test_the_shipped_int8_files_are_litert_quantizers_and_run_in_litert(compressed):
    from edgeseg.artifacts.tflite import operators
    from edgeseg.runtimes.litert import LiteRTSession

    _, out, _ = compressed
    rows = {a["path"]: a for a in json.loads((out / "report.json").read_text())["artifacts"]}
    for name, io in (("model_int8.tflite", "INT8"), ("model_int8_float_io.tflite", "FLOAT32")):
        row = rows[name]
        assert row["engine"] == tflite_engine(row["method"])["engine"]
        assert row["method"] == "ptq" and row["engine"].startswith("litert-quantizer")
        data = (out / name).read_bytes()
        _, inputs, outputs = operators(data)
        assert {t.type for t in inputs + outputs} == {io}
        session = LiteRTSession(out / name)
        shape = tuple(int(n) for n in session.input["shape"])
        probs = np.asarray(session.run(np.random.default_rng(0).random(shape, np.float32)))
        assert probs.shape[:3] == (1, 32, 32) and np.isfinite(probs).all()
    assert "engine" not in rows["model_float32.tflite"]


@pytest.mark.slow
def test_buffers_after_the_flatbuffer_are_moved_inside_with_the_same_outputs(compressed, tmp_path):
    """litert-quantizer writes weights over 256 KiB after the flatbuffer: a tiny model's are moved out
    by hand (as it writes them) and inline_buffers must give back the same model."""
    from edgeseg.artifacts.tflite import _pack, _root, _unpack
    from edgeseg.quantize.litert_quantizer import inline_buffers
    from edgeseg.runtimes.litert import LiteRTSession

    _, out, _ = compressed
    original = (out / "model_float32.tflite").read_bytes()
    model = _unpack(original)
    moved = [b for b in model.buffers if b.data is not None and len(b.data) > 64]
    payloads = [bytes(b.data) for b in moved]
    for b in moved:
        b.data, b.offset, b.size = None, 1, 1  # placeholders, as litert-quantizer packs first
    head = _pack(model, len(original))
    tail, offset = b"", (len(head) + 15) // 16 * 16
    for b, payload in zip(moved, payloads):
        b.offset, b.size = offset + len(tail), len(payload)
        tail += payload + b"\0" * (-len(payload) % 16)
    head = _pack(model, len(original))
    external = head + b"\0" * (offset - len(head)) + tail
    assert offset >= len(head) and any(_root(external).Buffers(i).Offset() > 1
                                       for i in range(_root(external).BuffersLength()))
    inlined = inline_buffers(external)
    assert all(_root(inlined).Buffers(i).Offset() <= 1 for i in range(_root(inlined).BuffersLength()))
    (tmp_path / "a.tflite").write_bytes(original)
    (tmp_path / "b.tflite").write_bytes(inlined)
    session = LiteRTSession(tmp_path / "a.tflite")
    image = np.random.default_rng(1).random(tuple(int(n) for n in session.input["shape"]), np.float32)
    np.testing.assert_array_equal(session.run(image),
                                  LiteRTSession(tmp_path / "b.tflite").run(image))
