"""What a model's task changes in the network and in the spec it is saved with, one entry per
task (the model layer sits below scoring/, so it keeps this small table instead of asking the
scoring door)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..config import ModelConfig


def _instance_spec(config: ModelConfig, classes: int) -> dict:
    from ..instances.decode import DecodeSettings

    return {"classes": 1, "task": "instance", "instance_channels": _instance_channels(config, classes),
            "decode": DecodeSettings().to_dict()}


def _instance_channels(config: ModelConfig, classes: int) -> int:
    """Foreground and inner distance, plus a boundary channel when asked for."""
    return 3 if config.boundary else 2


@dataclass(frozen=True)
class TaskModel:
    independent_channels: bool  # every output channel its own sigmoid, all in [0, 1] so one int8 scale fits
    output_channels: Callable[[ModelConfig, int], int]  # (config, the preset's classes) -> output channels
    spec_fields: Callable[[ModelConfig, int], dict]  # (config, classes) -> the PreprocessSpec fields it sets


TASK_MODELS: dict[str, TaskModel] = {
    "semantic": TaskModel(False, lambda config, classes: classes, lambda config, classes: {"classes": classes}),
    "instance": TaskModel(True, _instance_channels, _instance_spec),
}


def task_model(task: str) -> TaskModel:
    return TASK_MODELS[task]
