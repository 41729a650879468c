"""Per-layer int8 sensitivity: the groups and their order, the mixed-precision stopping rule on a
scripted scorer, and the disagreement heatmap's shape."""
import numpy as np
import pytest

from edgeseg.quantize.sensitivity import LayerGroup, choose_float_layers, int8_mac_share, nodes_of, rank

GROUPS = [LayerGroup("a", 0, ("a:0",), 100), LayerGroup("b", 1, ("b:0", "pool:0"), 300),
          LayerGroup("c", 2, ("c:0",), 600)]


def test_rank_puts_the_layer_that_costs_most_dice_first_then_the_largest_error():
    dice = {"a": 0.001, "b": 0.05, "c": 0.001}
    errors = {"a": {"rmse_steps": 0.9}, "b": {"rmse_steps": 0.1}, "c": {"rmse_steps": 0.2}}
    assert rank(GROUPS, dice, errors) == ["b", "a", "c"]
    assert rank(GROUPS, None, errors) == ["a", "c", "b"]  # no Dice measured: the error alone


def scripted(recovered: dict, base: float):
    """Dice of the int8 model with some layers float: the base plus what each float layer recovers."""
    calls = []

    def score(float_layers):
        calls.append(tuple(float_layers))
        return base + sum(recovered[n] for n in float_layers)

    return score, calls


def test_stopping_rule_takes_the_worst_layers_one_group_at_a_time_until_the_budget_holds():
    score, calls = scripted({"b": 0.03, "a": 0.01, "c": 0.005}, 0.95)
    choice = choose_float_layers(["b", "a", "c"], score, floor=0.985)
    assert choice.met and choice.float_layers == ("b", "a")
    # stops adding at the first step within the budget, then tries each back in int8 (the last added
    # first); ("b",) was scored already
    assert calls == [("b",), ("b", "a"), ("a",)]
    assert [step["score"] for step in choice.trail] == pytest.approx([0.98, 0.99, 0.96])


def test_stopping_rule_in_groups_of_two_and_the_limit():
    score, calls = scripted({"b": 0.0, "a": 0.0, "c": 0.02}, 0.95)
    choice = choose_float_layers(["b", "a", "c"], score, floor=0.96, group=2)
    assert calls[:2] == [("b", "a"), ("b", "a", "c")]
    assert choice.met and choice.float_layers == ("c",)  # b and a went back to int8: c alone recovers it
    score, calls = scripted({"b": 0.0, "a": 0.0, "c": 0.02}, 0.95)
    missed = choose_float_layers(["b", "a", "c"], score, floor=0.99, limit=2)
    assert not missed.met and missed.float_layers == ("b", "a") and calls == [("b",), ("b", "a")]


def test_a_layer_that_helped_only_with_another_goes_back_to_int8_the_most_macs_first():
    """Both sides of a concatenation cost Dice alone in int8, but keeping the small one float is enough."""
    def score(float_layers):
        return 0.99 if "up" in float_layers else 0.95

    choice = choose_float_layers(["conv", "up", "x"], score, floor=0.985, macs={"conv": 1800, "up": 800, "x": 5})
    assert choice.met and choice.float_layers == ("up",) and choice.score == 0.99
    assert [step.get("back_in_int8") for step in choice.trail] == [None, None, "conv"]
    missed = choose_float_layers(["conv"], lambda names: 0.9, floor=0.985)
    assert not missed.met and len(missed.trail) == 1  # nothing met: nothing tried back


def test_mac_share_and_nodes_of_the_float_layers():
    assert int8_mac_share(GROUPS, ["b"]) == pytest.approx(0.7)
    assert int8_mac_share(GROUPS, []) == 1.0
    assert nodes_of(GROUPS, ["b", "c"]) == ("b:0", "pool:0", "c:0")


def test_disagreement_heatmap_shape_and_values():
    from edgeseg.compress.explain import disagreement

    a = np.zeros((3, 8, 6), bool)
    b = a.copy()
    b[0, 2, 3] = b[1, 2, 3] = True
    heat = disagreement(a, b)
    assert heat.shape == (8, 6)
    assert heat[2, 3] == pytest.approx(2 / 3) and heat.sum() == pytest.approx(2 / 3)


@pytest.mark.slow
def test_groups_errors_and_leave_one_float_on_a_tiny_unet(tiny_model_path):
    from edgeseg.config import DataConfig
    from edgeseg.data.dataset import load_splits
    from edgeseg.models.io import load_model
    from edgeseg.quantize.sensitivity import layer_errors, layer_groups
    from edgeseg.quantize.tflite_int8 import calibrate, quantize_calibrated
    from edgeseg.artifacts.tflite import operators

    model, spec = load_model(tiny_model_path)
    train, _ = load_splits(DataConfig(synthetic_train=8, synthetic_val=4), spec)
    images = train.batch(range(8))[0]
    calibrated = calibrate(model, images)
    groups = layer_groups(model, calibrated)
    convs = [layer.name for layer in model.layers if type(layer).__name__ == "Conv2D"]
    assert [g.name for g in groups] == convs  # graph order, one group per convolution
    assert [g.position for g in groups] == sorted(g.position for g in groups)
    errors = layer_errors(calibrated, images, groups)
    assert set(errors) == set(convs) and all(e["mse"] >= 0 for e in errors.values())
    kept = quantize_calibrated(calibrated, True, nodes_of(groups, ["output"]))
    float_ops = [op.name for op in operators(kept)[0] if op.outputs[0].type == "FLOAT32"]
    assert "CONV_2D" in float_ops  # the output convolution stayed float
    # the float-ends speed option: the first and the last convolution float, every other one int8
    from edgeseg.quantize.tflite_int8 import first_conv_nodes, head_nodes

    assert set(first_conv_nodes(calibrated)) == set(nodes_of(groups, [convs[0]]))
    ends = quantize_calibrated(calibrated, True, first_conv_nodes(calibrated) + head_nodes(calibrated))
    conv_types = [op.outputs[0].type for op in operators(ends)[0] if op.name == "CONV_2D"]
    assert conv_types[0] == conv_types[-1] == "FLOAT32" and set(conv_types[1:-1]) == {"INT8"}


def test_report_md_names_the_repaired_layers_and_the_mac_share():
    from edgeseg.compress.explain import explain_lines

    layers = [{"name": "enc", "macs": 900, "rmse_steps": 0.2, "dice_cost": 0.0, "kept_float": False},
              {"name": "head", "macs": 100, "rmse_steps": 1.5, "dice_cost": 0.03, "kept_float": True}]
    repair = {"float_layers": ["head"], "int8_mac_share": 0.9,
              "latency": {"runtime": "litert-cpu", "threads": 2, "full_int8_p50_ms": 1.0, "mixed_p50_ms": 1.1,
                          "ratio": 1.1}}
    from edgeseg.artifacts.compress_report import CompressReport

    artifact = {"precision": "int8", "bytes": 1, "deployable": True, "reason": ""}
    report = CompressReport.from_dict({
        "schema": "edgeseg.compress/2", "model": "m.keras", "model_sha256": "ab", "data": "d", "spec": {},
        "baseline": {"dice": 0.9}, "config": {},
        "artifacts": [{"path": "m_int8.tflite", "format": "tflite", **artifact,
                       "explain": {"method": "mixed", "layers": layers, "repair": repair}},
                      {"path": "m_float32.tflite", "format": "tflite", **artifact}]})
    text = "\n".join(explain_lines(report))
    assert "Repair kept in float: head; 90.0% of MACs in int8" in text and "1.1x" in text
    assert "| head | 100 | 1.500 | +0.0300 | yes |" in text and "m_float32" not in text


def test_explain_flag_reaches_the_config_and_is_off_by_default():
    from edgeseg.cli.compress import compress_config
    from edgeseg.cli.main import build_parser

    parser = build_parser()
    assert compress_config(parser.parse_args(["compress", "m.keras", "--explain"])).explain
    assert not compress_config(parser.parse_args(["compress", "m.keras"])).explain
