"""The int8 ONNX's upsampling (issue 23: ONNX int8 within 1.3x of LiteRT int8): whole-factor
nearest Resize nodes are written as copies that sample the same pixels, other Resize nodes stay,
and the resolution wrapper's int8 ONNX keeps its outputs."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest


def _resize_graph():
    """x (1,3,4,5) -> nearest x(2,3) (tf's whole-factor upsampling) -> linear x2 -> nearest x1.5."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def scales(name, values):
        return numpy_helper.from_array(np.array(values, np.float32), name)

    nodes = [helper.make_node("Resize", ["x", "", "s_whole"], ["a"], mode="nearest", nearest_mode="floor",
                              coordinate_transformation_mode="tf_half_pixel_for_nn", name="whole"),
             helper.make_node("Resize", ["a", "", "s_linear"], ["b"], mode="linear",
                              coordinate_transformation_mode="half_pixel", name="linear"),
             helper.make_node("Resize", ["b", "", "s_fraction"], ["y"], mode="nearest", nearest_mode="floor",
                              coordinate_transformation_mode="asymmetric", name="fraction")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 24, 45])],
                              [scales("s_whole", [1, 1, 2, 3]), scales("s_linear", [1, 1, 2, 2]),
                               scales("s_fraction", [1, 1, 1.5, 1.5])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(proto, x):
    import onnxruntime as ort

    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def test_only_whole_factor_nearest_upsampling_is_rewritten_and_it_samples_the_same_pixels():
    import onnx

    from edgeseg.quantize.onnx_int8 import copy_upsample

    proto = _resize_graph()
    x = np.random.default_rng(0).random((1, 3, 4, 5)).astype(np.float32)
    expected = _run(proto, x)
    assert list(copy_upsample(proto)) == ["whole"]
    onnx.checker.check_model(proto)
    ops = Counter(node.op_type for node in proto.graph.node)
    assert ops == {"Transpose": 2, "Reshape": 3, "Concat": 2, "Resize": 2}  # linear and x1.5 stay
    assert [n.name for n in proto.graph.node if n.op_type == "Resize"] == ["linear", "fraction"]
    assert np.array_equal(_run(proto, x), expected)


@pytest.mark.slow
def test_the_resolution_wrappers_int8_onnx_has_no_nearest_resize_and_keeps_its_outputs(tiny_model_path, tmp_path):
    import onnx

    from edgeseg.export.onnx import export_onnx
    from edgeseg.models.io import load_model
    from edgeseg.prune.resolution import at_scale
    from edgeseg.quantize.onnx_int8 import OnnxInt8Settings, quantize_onnx_int8
    from edgeseg.runtimes.onnxrt import OnnxSession

    model, _ = load_model(tiny_model_path)
    wrapped = at_scale(model, 0.5)
    float_path = export_onnx(wrapped, tmp_path / "float.onnx")
    images = np.random.default_rng(0).random((8, 32, 32, 1)).astype(np.float32)
    copies = quantize_onnx_int8(float_path, tmp_path / "copies.onnx", images)
    resize = quantize_onnx_int8(float_path, tmp_path / "resize.onnx", images,
                                settings=OnnxInt8Settings(copy_upsample=False))

    def resize_modes(path):
        return sorted(next(a.s.decode() for a in n.attribute if a.name == "mode")
                      for n in onnx.load(str(path)).graph.node if n.op_type == "Resize")

    assert resize_modes(resize) == ["linear", "linear", "nearest", "nearest"]  # down, 2 decoder ups, up
    assert resize_modes(copies) == ["linear", "linear"]  # the wrapper's bilinear resizes stay
    assert Counter(n.op_type for n in onnx.load(str(copies)).graph.node)["Concat"] == 2 + 2 * 2
    batch = images[:4]
    out = OnnxSession(copies, 1).run(batch)
    assert np.array_equal(out, OnnxSession(resize, 1).run(batch))  # the same pixels, the same int8 math
    reference = np.asarray(wrapped(batch, training=False))
    assert out.shape == reference.shape == (4, 32, 32, 1)
    assert np.abs(out - reference).max() < 0.08

    nearest = next(n.name for n in onnx.load(str(float_path)).graph.node if n.op_type == "Resize"
                   and any(a.name == "mode" and a.s == b"nearest" for a in n.attribute))
    mixed = quantize_onnx_int8(float_path, tmp_path / "mixed.onnx", images, exclude=[nearest])

    def feeds_copy(path):  # what makes the input of each upsampling's first Concat
        nodes = onnx.load(str(path)).graph.node
        producers = {o: n.op_type for n in nodes for o in n.output}
        return {n.name: producers[n.input[0]] for n in nodes if n.name.endswith("_wide")}

    assert set(feeds_copy(copies).values()) == {"DequantizeLinear"}  # int8 copies
    assert feeds_copy(mixed)[f"{nearest}_wide"] == "Reshape"  # the excluded one stays float as its copies
