"""One scoring door per model task: what verification, the baseline, the guard, the Edge TPU
step, bench and the search ask about a task, answered in one object per task (the base class is
in task_base.py, the tasks in semantic.py and instance.py). Callers ask `task_for(spec)` instead
of testing the task's name; it does for scoring what training/task_training.py does for
fine-tuning."""
from __future__ import annotations

from ..errors import UsageError
from .instance import INSTANCE
from .semantic import SEMANTIC
from .task_base import BaselineStep, RowScores, Task

TASKS: dict[str, Task] = {t.name: t for t in (SEMANTIC, INSTANCE)}


def task_named(name: str | None) -> Task:
    """The task of that name; None (an older report or row without one) is semantic."""
    if (name or "semantic") not in TASKS:
        raise UsageError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return TASKS[name or "semantic"]


def task_for(spec) -> Task:
    """The task of a PreprocessSpec, a spec dict, or a report/row dict carrying either."""
    if isinstance(spec, dict):
        inner = spec.get("spec")
        return task_named((inner or {}).get("task") if isinstance(inner, dict) else spec.get("task"))
    return task_named(getattr(spec, "task", None))


__all__ = ["BaselineStep", "RowScores", "TASKS", "Task", "task_for", "task_named"]
