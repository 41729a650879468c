"""Training lengths in optimizer steps (issue 24 item 6): the budget, the patience floor, the
warm-up and cosine decay, and the early stop on a smoothed validation score. No TensorFlow."""
import math

import pytest

from edgeseg.config import TrainConfig
from edgeseg.errors import UsageError
from edgeseg.training.schedule import SmoothedStop, learning_rate_at, plan_steps


def test_a_few_dozen_images_get_the_patience_floor_not_five_epochs():
    plan = plan_steps(TrainConfig(), steps_per_epoch=3)  # 35 images at batch 16
    assert plan.total_steps == 600  # --epochs 200 caps it before --max-steps 1000
    assert plan.patience_steps == 200  # 5 epochs would be 15 steps
    assert plan.eval_every == 3 and plan.epochs == 200


def test_large_data_keeps_patience_in_epochs_and_the_step_cap():
    plan = plan_steps(TrainConfig(), steps_per_epoch=400)
    assert plan.total_steps == 1000 and plan.epochs == 3  # --max-steps caps it; the last epoch ends early
    assert plan.patience_steps == 1000  # 5 epochs = 2000 steps, never more than the budget
    assert plan.eval_every == 50


def test_epochs_stay_a_cap():
    plan = plan_steps(TrainConfig(epochs=2, patience=1, min_patience_steps=0), steps_per_epoch=7)
    assert (plan.total_steps, plan.patience_steps, plan.epochs) == (14, 7, 2)


def test_learning_rate_warms_up_then_decays_to_zero():
    plan = plan_steps(TrainConfig(learning_rate=1e-3, warmup_fraction=0.1), steps_per_epoch=10)
    rates = [plan.learning_rate(s) for s in range(plan.total_steps + 1)]
    warmup = round(plan.total_steps * 0.1)
    assert rates[0] == pytest.approx(1e-3 / warmup) and rates[warmup - 1] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(rates[warmup:], rates[warmup + 1:]))  # never rises after the peak
    assert rates[-1] == pytest.approx(0.0, abs=1e-12) and max(rates) == pytest.approx(1e-3)
    assert learning_rate_at(50, 1.0, 100, 0.0) == pytest.approx(0.5, abs=0.02)  # halfway down the cosine


def test_one_lucky_score_neither_resets_nor_ends_the_wait():
    stop = SmoothedStop(patience_steps=30, smooth=3)
    for step, score in ((10, 0.5), (20, 0.6), (30, 0.6)):
        stop.update(step, score)
    assert stop.best_smoothed == pytest.approx(0.6) and stop.best_smoothed_step == 30
    stop.update(40, 0.95)  # a spike: the median of (0.6, 0.6, 0.95) does not move
    assert stop.best_smoothed_step == 30
    stop.update(50, 0.55)
    assert not stop.should_stop(50)
    stop.update(60, 0.58)
    assert stop.should_stop(60)  # 30 steps since the median last improved


def test_a_real_improvement_resets_the_wait():
    stop = SmoothedStop(patience_steps=20, smooth=3)
    for step, score in ((10, 0.1), (20, 0.2), (30, 0.3), (40, 0.4)):
        stop.update(step, score)
        assert not stop.should_stop(step)
    assert stop.best_smoothed == pytest.approx(0.3) and stop.best_smoothed_step == 40
    assert math.isinf(SmoothedStop(5, 1).best_smoothed)


@pytest.mark.parametrize("field, value, expect", [
    ("max_steps", 0, ">= 1"), ("min_patience_steps", -1, ">= 0"), ("eval_every", 0, ">= 1"),
    ("smooth", 0, ">= 1"), ("warmup_fraction", 0.9, "limit"), ("warmup_fraction", float("nan"), "finite")])
def test_bad_lengths_are_refused(field, value, expect):
    with pytest.raises(UsageError, match=expect):
        TrainConfig(**{field: value})


def test_train_help_shows_every_default(capsys, monkeypatch):
    """Issue 24: `train --help` showed no default for --epochs or --lr."""
    import re

    from edgeseg.cli.main import main

    monkeypatch.setenv("COLUMNS", "400")
    assert main(["train", "--help"]) == 0
    lines, flag = {}, None
    for line in capsys.readouterr().out.splitlines():  # an option's block: its line and the ones under it
        found = re.match(r"\s+(--[a-z-]+)", line)
        flag = found.group(1) if found else flag if line.startswith("     ") else None
        if flag:
            lines[flag] = lines.get(flag, "") + " " + line.strip()
    config = TrainConfig()
    for flag, default in (("--epochs", config.epochs), ("--max-steps", config.max_steps), ("--lr", config.learning_rate),
                          ("--patience", config.patience), ("--min-patience-steps", config.min_patience_steps),
                          ("--eval-every", config.eval_every), ("--smooth", config.smooth),
                          ("--warmup", config.warmup_fraction), ("--batch-size", config.batch_size),
                          ("--seed", config.seed), ("--arch", "unet"), ("--preset", "small")):
        assert f"default: {default}" in lines[flag], lines[flag]
    assert "EPOCHS (converted to optimizer steps)" in lines["--patience"]
    for flag in ("--height", "--dropout", "--batchnorm"):
        assert "default: the preset's" in lines[flag]
