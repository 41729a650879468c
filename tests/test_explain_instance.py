"""--explain on an instance model: the per-layer cost is measured in PQ (the budget's metric,
through the task door scoring/task.py), and the disagreement heatmap compares foregrounds."""
import dataclasses
import json

import numpy as np
import pytest

from edgeseg.config import CompressConfig, PreprocessSpec
from edgeseg.scoring.task import task_for

INSTANCE_SPEC = PreprocessSpec(32, 32, task="instance", instance_channels=2, decode={"foreground": 0.5, "seed": 0.5})


def test_the_task_door_takes_explain_for_both_tasks_and_masks_the_instance_foreground():
    task_for(INSTANCE_SPEC).check_options(CompressConfig(explain=True))
    task_for(PreprocessSpec(32, 32)).check_options(CompressConfig(explain=True))
    outputs = np.zeros((2, 4, 4, 2), np.float32)
    outputs[0, 1, 1, 0], outputs[0, 2, 2, 1] = 0.9, 0.9  # channel 1 (seeds) is not the foreground
    outputs[1, 3, 3, 0] = 0.55  # foreground at 0.5, not at the tuned 0.6 the decoder draws with
    masks = task_for(INSTANCE_SPEC).masks(outputs, INSTANCE_SPEC)
    assert masks.shape == (2, 4, 4) and masks.sum() == 2 and masks[0, 1, 1] == 1 and masks[1, 3, 3] == 1
    tuned = dataclasses.replace(INSTANCE_SPEC, decode={"foreground": 0.6, "seed": 0.5})
    assert task_for(tuned).masks(outputs, tuned).sum() == 1  # (review) the decoder's threshold, not 0.5
    semantic = task_for(PreprocessSpec(32, 32)).masks(outputs[..., :1], PreprocessSpec(32, 32))
    assert semantic.shape == (2, 4, 4) and semantic.sum() == 2


@pytest.mark.slow
def test_compress_explain_on_an_instance_model_measures_pq_per_layer(instance_model, tmp_path):
    from edgeseg.compress.pipeline import compress
    from edgeseg.config import DataConfig

    out = tmp_path / "out"
    # a budget PTQ meets: the ladder's training rungs would cost a minute and explain nothing more
    compress(instance_model, CompressConfig(data=DataConfig(synthetic_train=8, synthetic_val=4), explain=True,
                                            formats=("tflite",), max_pq_drop=1.0, calibration_samples=8,
                                            verbose=0), out)
    report = json.loads((out / "report.json").read_text())
    explained = [a for a in report["artifacts"] if a.get("explain")]
    assert explained, "no int8 artifact got its where-int8-hurts section"
    section = explained[0]["explain"]
    assert section["metric"] == "pq" and section["dice_cost"].startswith("PQ lost")
    costs = [layer["dice_cost"] for layer in section["layers"]]
    assert len(costs) >= 5 and all(c is not None for c in costs)
    assert 0.0 <= section["disagreement_share"] <= 1.0
    if section.get("heatmap"):
        assert (out / section["heatmap"]).is_file()
    assert "PQ lost alone in int8" in (out / "report.md").read_text()
