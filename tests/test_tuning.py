"""compress's fine-tuning policy: budgets from the config, the early-stop target, and skipping
pruning when the data is too small for fine-tuning to mean anything."""
from __future__ import annotations

import json

import pytest

from edgeseg.prune.tuning import (MIN_TRAIN_IMAGES, MIN_VAL_IMAGES, pruning_budget, qat_budget, recovery_target,
                                     too_little_data)
from edgeseg.config import CompressConfig
from edgeseg.errors import UsageError


def test_budgets_come_from_the_config_in_steps():
    config = CompressConfig(finetune_steps=250, finetune_min_steps=120, finetune_time=60.0, finetune_lr=1e-3,
                            qat_steps=50)
    budget = pruning_budget(config)
    assert (budget.max_steps, budget.min_steps, budget.max_seconds, budget.learning_rate) == (250, 120, 60.0, 1e-3)
    assert (qat_budget(config).max_steps, qat_budget(config).min_steps) == (50, 50)


def test_recovery_target_leaves_room_for_quantization():
    assert recovery_target(0.90, 0.01) == pytest.approx(0.895)


def test_too_little_data_names_the_reason():
    assert too_little_data(MIN_TRAIN_IMAGES, MIN_VAL_IMAGES) is None
    assert "training images" in too_little_data(MIN_TRAIN_IMAGES - 1, 10)
    assert "validation" in too_little_data(100, MIN_VAL_IMAGES - 1)


@pytest.mark.parametrize("kwargs", [dict(finetune_steps=0), dict(finetune_min_steps=400), dict(finetune_time=0.0),
                                    dict(distill=1.5), dict(unlabeled="frames")])
def test_bad_finetune_settings_are_refused(kwargs):
    with pytest.raises(UsageError):
        CompressConfig(**kwargs)


@pytest.mark.slow
def test_compress_skips_pruning_on_too_little_data(tiny_model_path, tmp_path):
    from conftest import run_cli

    out = tmp_path / "out"
    result = run_cli("compress", str(tiny_model_path), "--out", str(out), "--prune", "magnitude", "--data", "synthetic",
                     "--synthetic-train", "4",
                     "--synthetic-val", "4", "--calibration-samples", "4")
    assert result.returncode == 0, result.stderr[-3000:]  # 3 would mean no int8 artifact is deployable
    assert "skipping pruning: only 4 training images" in result.stdout
    report = json.loads((out / "report.json").read_text())
    int8 = next(a for a in report["artifacts"] if a["path"] == "model_int8.tflite")
    assert int8["deployable"], int8  # skipping pruning still ships the post-training int8 model
    assert report["pruning"] is None and "4 training images" in report["finetune_skipped"]
    assert not any("pruned" in a["path"] for a in report["artifacts"])


@pytest.mark.parametrize("flags, expected", [
    ((None, None), "none"),  # no flag: post-training quantization only
    ((None, 0.8), "magnitude"),  # --sparsity alone still means magnitude pruning
    (("magnitude", None), "magnitude"),
    (("channels", None), "channels"),
    (("auto", None), "auto"),
    (("none", None), "none"),
])
def test_default_is_post_training_only_and_flags_opt_in(flags, expected):
    from edgeseg.cli.compress import compress_pruning
    from edgeseg.compress.sources import wanted_sources
    from edgeseg.config import CompressConfig

    prune, sparsity = compress_pruning(*flags)
    assert prune == expected and sparsity == (flags[1] or 0.5)
    sources = wanted_sources(CompressConfig(prune=prune, sparsity=sparsity))
    assert sources == {"none": [], "magnitude": ["pruned"], "channels": ["channels"], "auto": ["channels"]}[prune]
    assert wanted_sources(CompressConfig()) == []  # the API's default is post-training only too
