"""The semantic task's scoring door: Dice decides, within --max-dice-drop of the float model;
artifacts must agree with the float model's masks and probabilities (sanity.check_agreement)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from .predictors import Predictor, evaluate_predictor, format_scores
from .sanity import check_baseline, skipped
from .task_base import BaselineStep, RowScores, Task
from .verify import Verified, verify


class SemanticTask(Task):
    name = "semantic"
    metric = "dice"
    label = "Dice"
    explains_int8 = True
    budget_field = "max_dice_drop"
    bench_label = "Dice"
    refusals = ((lambda c: c.max_pq_drop is not None,
                 "--max-pq-drop is the budget of instance models; this model is semantic (use --max-dice-drop)"),)

    def evaluate(self, predict: Predictor, val, batch_size: int) -> dict:
        return evaluate_predictor(predict, val, batch_size)

    def describe(self, scores: dict) -> str:
        return format_scores(scores)

    def float_check(self, predict: Predictor, val, scores: dict, model, batch_size: int, judged: bool,
                    data_summary: str) -> str | None:
        if not judged:
            return f"note: {data_summary}"
        return check_baseline(predict, val, scores["dice"], model, batch_size).message()

    def baseline_step(self, reference, val, spec, config, judged: bool, model, log) -> BaselineStep:
        baseline = self.evaluate(reference, val, config.batch_size)
        log("      " + self.describe(baseline))
        sanity = (check_baseline(reference, val, baseline["dice"], model, config.batch_size) if judged
                  else skipped("no real masks to judge the float model against", model, spec.normalize))
        return BaselineStep(baseline, sanity, spec)

    def verifier(self, val, reference: Predictor, spec: dict, batch_size: int,
                 held_out: bool = False, original: Predictor | None = None) -> Callable[[Path], Verified]:
        return lambda path: verify(path, val, reference, batch_size, original)

    def judge_against_original(self, predict: Predictor, original: Predictor, val, batch_size: int):
        from .sanity import MIN_MASK_AGREEMENT
        from .verify import ORIGINAL_MAX_MEAN_ABS_DIFF, float_source_problem

        return float_source_problem(predict, original, val, batch_size, MIN_MASK_AGREEMENT, ORIGINAL_MAX_MEAN_ABS_DIFF)

    def score_row(self, predict: Predictor, data, batch_size: int, own_spec: dict | None) -> RowScores:
        return RowScores(evaluate_predictor(predict, data, batch_size))

    def row_line(self, scores: dict) -> str:
        return f"Dice {scores['dice']:.4f} on {scores['images']} images"

    def budget_text(self, report) -> str:
        return f"Budget: Dice drop <= {report.config.max_dice_drop}."


SEMANTIC = SemanticTask()
