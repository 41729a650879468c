"""The scoring door (edgeseg/scoring/task.py): each task's metric, budget field and wording, its
scorers driven by scripted predictors, Budget as the one judge, and no task branches left
outside the door."""
import re
from pathlib import Path

import numpy as np
import pytest

from edgeseg.config import CompressConfig, DataConfig, PreprocessSpec
from edgeseg.errors import UsageError
from edgeseg.scoring.budget import Budget
from edgeseg.scoring.task import TASKS, task_for, task_named

PACKAGE = Path(__file__).resolve().parents[1] / "edgeseg"
SEMANTIC_SPEC = PreprocessSpec(32, 32)
INSTANCE_SPEC = PreprocessSpec(32, 32, task="instance", instance_channels=2,
                               decode={"foreground": 0.5, "seed": 0.5})


def test_each_task_names_its_metric_budget_and_columns():
    semantic, instance = TASKS["semantic"], TASKS["instance"]
    assert set(TASKS) == {"semantic", "instance"}
    assert (semantic.metric, semantic.label, semantic.budget_field) == ("dice", "Dice", "max_dice_drop")
    assert (instance.metric, instance.label, instance.budget_field) == ("pq", "PQ", "max_pq_drop")
    assert semantic.max_drop(CompressConfig(max_dice_drop=0.03)) == 0.03
    assert instance.max_drop(CompressConfig()) == 0.02 and instance.max_drop(CompressConfig(max_pq_drop=0.1)) == 0.1
    budget = instance.budget({"dice": 0.99, "pq": 0.8}, CompressConfig(), None, True)
    assert (budget.metric, budget.baseline, budget.floor) == ("pq", 0.8, pytest.approx(0.78))
    assert semantic.budget({"dice": 0.9}, CompressConfig(), None, True).floor == pytest.approx(0.89)
    assert semantic.table_columns == () and instance.table_columns == ("pq", "f1", "agreement_pq")
    assert semantic.row_columns_after == {} and "dice" in instance.row_columns_after
    assert semantic.headline_scores({"dice": 0.9, "iou": 0.8, "images": 4}) == {"dice": 0.9, "iou": 0.8}
    assert instance.headline_scores({"dice": 0.9, "pq": 0.7, "aji": 0.1}) == {"dice": 0.9, "pq": 0.7}


def test_the_task_is_found_from_a_spec_a_spec_dict_a_report_or_a_row():
    assert task_for(SEMANTIC_SPEC) is TASKS["semantic"] and task_for(INSTANCE_SPEC) is TASKS["instance"]
    assert task_for(INSTANCE_SPEC.to_dict()) is TASKS["instance"]
    assert task_for({"spec": {"task": "instance"}, "artifacts": []}) is TASKS["instance"]  # a compress report
    assert task_for({"task": "instance", "artifact": "a.tflite"}) is TASKS["instance"]  # a bench row
    assert task_for({"artifact": "a.tflite"}) is TASKS["semantic"] and task_named(None) is TASKS["semantic"]
    with pytest.raises(UsageError, match="unknown task 'panoptic'"):
        task_named("panoptic")


def test_each_task_refuses_the_options_that_do_nothing_for_it_in_one_line():
    with pytest.raises(UsageError, match="--max-pq-drop is the budget of instance models"):
        task_for(SEMANTIC_SPEC).check_options(CompressConfig(max_pq_drop=0.05))
    with pytest.raises(UsageError, match="--prune auto is not available for instance models"):
        task_for(INSTANCE_SPEC).check_options(CompressConfig(prune="auto"))
    task_for(SEMANTIC_SPEC).check_options(CompressConfig(prune="auto"))
    task_for(INSTANCE_SPEC).check_options(CompressConfig(max_pq_drop=0.05))


def _report(**more):
    from edgeseg.artifacts.compress_report import CompressReport

    return CompressReport.from_dict({"schema": "edgeseg.compress/2", "model": "m.keras", "model_sha256": "ab",
                                     "data": "d", "spec": {}, "artifacts": [], "config": {"max_dice_drop": 0.01},
                                     **more})


def test_each_task_words_its_budget_and_its_bench_lines():
    semantic, instance = TASKS["semantic"], TASKS["instance"]
    assert semantic.budget_text(_report(baseline={"dice": 0.9})) == "Budget: Dice drop <= 0.01."
    assert "Dice does not decide" in instance.budget_text(_report(baseline={"dice": 0.9}))
    assert semantic.row_line({"dice": 0.91234, "images": 4}) == "Dice 0.9123 on 4 images"
    row = {"pq": 0.5, "f1": 0.6, "pred_objects": 3, "true_objects": 4, "images": 2,
           "decode_settings": {"method": "watershed"}}
    assert instance.row_line(row).startswith("PQ 0.5000, F1@0.5 0.6000 (3 found")
    assert semantic.bench_fields({"dice": 0.89}) == {}
    assert semantic.report_lines(_report(baseline={"dice": 0.9})) == []
    assert instance.bench_fields({"dice": 0.89, "pq": 0.78}) == {"task": "instance", "pq_floor": 0.78}
    base = {"dice": 0.7, "pq": 0.8, "sq": 0.9, "rq": 0.85, "f1": 0.9, "aji": 0.7, "count_mae": 0.5}
    info = {"max_pq_drop": 0.02, "decode": {}, "decode_tuning": {"tuned_by": "compress"}, "ladder": ["ptq", "qat"]}
    line = instance.report_lines(_report(baseline=base, instance=info))[0]
    assert "Budget: PQ drop <= 0.02" in line and "Remedies, cheapest first: ptq, qat." in line


def _replaying(val, make):
    """A scripted predictor: answers each batch, in order, with `make(labels)` of that batch."""
    answers = iter([make(labels) for _, labels in val.batches(2)])
    return lambda images: next(answers)


def test_a_scripted_semantic_scorer_and_the_budget_judge_it():
    from edgeseg.data.dataset import load_splits

    task = TASKS["semantic"]
    val = load_splits(DataConfig(synthetic_val=4, synthetic_train=2), SEMANTIC_SPEC)[1]
    perfect = task.evaluate(_replaying(val, lambda y: (y > 0).astype(np.float32)[..., None]), val, 2)
    inverted = task.evaluate(_replaying(val, lambda y: (y == 0).astype(np.float32)[..., None]), val, 2)
    assert perfect["dice"] == pytest.approx(1.0) and inverted["dice"] < 0.5 and perfect["images"] == 4
    assert task.describe(perfect).startswith("Dice 1.0000")
    budget = task.budget(perfect, CompressConfig(), None, True)
    assert budget.judge(perfect) == (True, "within budget")
    ok, why = budget.judge(inverted)
    assert not ok and why.startswith(f"Dice {inverted['dice']:.4f} is below the floor 0.9900")
    row = task.score_row(_replaying(val, lambda y: (y > 0).astype(np.float32)[..., None]), val, 2, None)
    assert row.decoding is None and task.row_fields({"p50_ms": 1.0}, row.scores, None) == {"p50_ms": 1.0}


def test_a_scripted_instance_scorer_decodes_with_the_artifacts_own_settings():
    from scipy import ndimage

    from edgeseg.bench.instance import load_validation

    task = TASKS["instance"]
    val = load_validation(DataConfig(synthetic_val=4), INSTANCE_SPEC)

    def ideal(labels):  # foreground and a per-object inner distance: every object decodes on its own
        maps = []
        for label in labels:
            inner = np.zeros(label.shape, np.float32)
            for obj in np.unique(label[label > 0]):
                d = ndimage.distance_transform_edt(label == obj)
                inner = np.maximum(inner, d / max(d.max(), 1.0))
            maps.append(np.stack([(label > 0).astype(np.float32), inner], -1))
        return np.asarray(maps, np.float32)

    scores = task.evaluate(_replaying(val, ideal), val, 2)
    merged = task.evaluate(_replaying(val, lambda y: np.stack([(y > 0), (y > 0)], -1).astype(np.float32)), val, 2)
    assert scores["dice"] == pytest.approx(1.0) and merged["dice"] == pytest.approx(1.0)
    assert scores["pq"] > 0.5 and merged["pq"] < scores["pq"]  # the same foreground: only PQ sees objects merge
    assert task.describe(scores).startswith(f"PQ {scores['pq']:.4f}")
    own = {"decode": {"foreground": 0.4, "seed": 0.6, "method": "nearest"}}
    row = task.score_row(_replaying(val, ideal), val, 2, own)
    outputs, settings = row.decoding
    assert len(outputs) == 4 and settings.foreground == 0.4 and row.scores["decode_settings"]["method"] == "nearest"
    fields = task.row_fields({"p50_ms": 2.0}, row.scores, None)
    assert fields["task"] == "instance" and fields["decode_ms"] is None and fields["decode_share"] is None
    budget = task.budget(scores, CompressConfig(), None, True)
    assert budget.judge({**scores, "pq": scores["pq"] - 0.05})[1].startswith("PQ ")  # judged by PQ, worded so


def test_budget_words_every_reason_the_edge_tpu_step_and_the_search_need():
    budget = Budget(0.95, 0.05)
    assert budget.judge({"dice": 0.99}, unverified="no Edge TPU found") == (
        False, "compiled, not verified: no Edge TPU found")
    assert budget.beyond_recovery(0.70, 0.10) == "float Dice 0.7000 after recovery, far below the floor 0.9000"
    assert budget.beyond_recovery(0.85, 0.10) is None and budget.beyond_recovery(None, 0.10) is None
    ok, why = budget.judge({"dice": 0.99, "mask_agreement": 0.5, "mean_abs_diff": 0.01})
    assert not ok and "disagree with the float model" in why


# A branch on the model's task: `task == "instance"`, `spec.task != ...`, `is_instance(...)`,
# `row.get("task") == ...`. Outside the door these must ask the task object instead.
TASK_BRANCH = re.compile(r"""task\s*[!=]=|\.task\s*(?:in|not in)\s*[(\[{]|is_instance\(|get\(["']task["']\)\s*[!=]=""")
# Where callers must use the door, or, below it, their layer's own per-task table (artifacts,
# models, deploy; training has task_training.py). config.py's validation may name a task.
DOOR_USERS = ("compress", "bench", "search", "quantize", "cli", "api.py", "training", "deploy", "models",
              "artifacts")


def _branches(root: Path) -> list[str]:
    """'path:line: text' of every task branch in the .py files at or under `root`."""
    files = [root] if root.is_file() else sorted(root.rglob("*.py"))
    return [f"{path.name if root.is_file() else path.relative_to(root)}:{n}: {line.strip()}"
            for path in files for n, line in enumerate(path.read_text().splitlines(), 1) if TASK_BRANCH.search(line)]


def test_no_task_branches_outside_the_door():
    found = [f"{name}/{hit}" for name in DOOR_USERS for hit in _branches(PACKAGE / name)]
    assert found == [], "task branches outside scoring/: ask task_for(spec) instead:\n" + "\n".join(found)


def test_the_branch_finder_finds_branches(tmp_path):
    (tmp_path / "a.py").write_text('if spec.task == "instance":\n    pass\nx = task_for(spec).metric\n'
                                   'y = is_instance(report)\nz = r.get("task") != "instance"\n')
    assert [hit.split(":")[1] for hit in _branches(tmp_path)] == ["1", "4", "5"]
    assert _branches(PACKAGE / "scoring" / "semantic.py") == []  # the door asks no task its name either


def test_the_search_asks_the_budget_about_its_candidates():
    from edgeseg.search.trial import judge

    budget = Budget(0.95, 0.05)
    agreeing = {"dice": 0.93, "mask_agreement": 0.97, "mean_abs_diff": 0.01}
    assert judge(budget, {"dice": 0.93, "scores": agreeing}) == (True, "within budget")
    ok, why = judge(budget, {"dice": 0.93, "scores": {**agreeing, "mask_agreement": 0.5}})
    assert not ok and "disagree with the float model" in why  # the search's own floor would have let it win
    assert judge(budget, {"dice": 0.93})[0] and not judge(budget, {"dice": 0.85})[0]  # a record cached with Dice alone
    failed = Budget(0.95, 0.05, baseline_problem="it predicts no foreground")
    assert judge(failed, {"dice": 0.95, "scores": agreeing}) == (
        False, "the float baseline failed its sanity check: it predicts no foreground")
