"""The accuracy guard and the exit code, driven with scripted Dice values (no conversion)."""
from pathlib import Path

from edgeseg.compress import guard as guard_module
from edgeseg.scoring.budget import Budget
from edgeseg.artifacts.compress_report import exit_code_for
from edgeseg.scoring.verify import Verified


def scripted(path: Path) -> Verified:
    """The scorer the guard is given: the Dice is written into the candidate file itself."""
    return Verified("fake", {"dice": float(Path(path).read_text())}, 0.0)


BUDGET = Budget(0.99, 0.01)


def _remedies(*dices):
    return [(f"m{i}", (lambda d=d: str(d).encode())) for i, d in enumerate(dices)]


def test_first_method_within_budget_wins(tmp_path):
    g = guard_module.guard(_remedies(0.5, 0.985, 0.99), tmp_path / "a.tflite", scripted, BUDGET, print)
    assert g.deployable and g.method == "m1"
    assert [a.method for a in g.attempts] == ["m0", "m1"]  # stops at the first success
    assert (tmp_path / "a.tflite").read_text() == "0.985"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tflite"]


def test_all_methods_missing_budget_keeps_the_best_marked_not_deployable(tmp_path):
    g = guard_module.guard(_remedies(0.2, 0.6, 0.4), tmp_path / "a.tflite", scripted, BUDGET, print)
    assert not g.deployable and g.method == "m1"
    assert "below the floor" in g.reason and "m0, m1, m2" in g.reason
    assert (tmp_path / "a.tflite").read_text() == "0.6"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tflite"]


def test_a_failing_method_is_recorded_and_the_next_tried(tmp_path):
    def broken():
        raise RuntimeError("converter exploded\nwith details")

    g = guard_module.guard([("broken", broken), ("ok", lambda: b"0.99")], tmp_path / "a.tflite", scripted,
                           BUDGET, print)
    assert g.deployable and g.method == "ok"
    assert g.attempts[0].dice is None and g.attempts[0].detail == "RuntimeError: converter exploded"


def test_exit_code_3_when_no_int8_artifact_is_deployable():
    def report(*rows):
        return {"artifacts": [{"precision": p, "deployable": d} for p, d in rows]}

    assert exit_code_for(report(("float32", True), ("int8", False))) == 3
    assert exit_code_for(report(("float32", True), ("int8", False), ("int16x8", True))) == 0
    assert exit_code_for(report(("int8", True))) == 0


def test_the_mixed_rung_is_tried_after_calibration_and_before_int16x8_and_training(tmp_path):
    from edgeseg.quantize.methods import methods_for

    ladder = methods_for("tflite", training=True)
    assert ladder.index("more-calibration") < ladder.index("mixed") < ladder.index("int16x8") < ladder.index("qat")
    dices = {"ptq": 0.5, "more-calibration": 0.6, "mixed": 0.985, "int16x8": 0.99}
    candidates = [(m, (lambda d=dices.get(m, 0.99): str(d).encode())) for m in ladder]
    g = guard_module.guard(candidates, tmp_path / "a.tflite", scripted, BUDGET, print)
    assert g.deployable and g.method == "mixed"
    assert [a.method for a in g.attempts] == ["ptq", "more-calibration", "mixed"]


def test_the_method_that_meets_the_budget_is_kept_even_when_an_earlier_miss_scored_as_high(tmp_path):
    """Judged by agreement (an untrained 3-class model: Dice 0 everywhere), plain int8 disagrees
    with the float model and int16x8 agrees: int16x8 must be the file kept, not the first Dice 0."""
    import json

    def scorer(path: Path) -> Verified:
        return Verified("fake", json.loads(Path(path).read_text()), 0.0)

    dice_zero = [("ptq", lambda: json.dumps({"dice": 0.0, "mask_agreement": 0.85, "mean_abs_diff": 0.01}).encode()),
                 ("int16x8", lambda: json.dumps({"dice": 0.0, "mask_agreement": 0.99, "mean_abs_diff": 0.01}).encode())]
    g = guard_module.guard(dice_zero, tmp_path / "a.tflite", scorer, Budget(0.0, 1.0), print)
    assert g.deployable and g.method == "int16x8", g.reason
    assert json.loads((tmp_path / "a.tflite").read_text())["mask_agreement"] == 0.99
