"""`edgeseg eval`: a model's scores on the validation split; every cheap check (flags, paths,
the custom-objects file) runs before TensorFlow is imported."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..config import BenchConfig, DataConfig
from .common import data_args, data_config, format_any_scores, model_args


def _cmd_eval(a: argparse.Namespace) -> int:
    from ..preflight import check_custom_objects, check_data_source, check_model_file
    from ..safety import finite

    finite("--batch-size", a.batch_size, 1)
    data = data_config(a)  # flags first, then paths, all before TensorFlow is imported
    check_model_file(Path(a.model))
    check_data_source(a.data)
    check_custom_objects(a.custom_objects)
    from ..compress.data_source import choose_data
    from ..models.io import load_model
    from ..scoring.predictors import keras_predictor
    from ..scoring.task import task_for

    model, spec = load_model(Path(a.model), a.normalize, a.unsafe, a.custom_objects, keep_keras3=True)
    choice = choose_data(Path(a.model), data)
    task = task_for(spec)  # stored in the model's spec: no flag needed
    val = task.load_validation(choice.data, spec)
    predict = keras_predictor(model, a.batch_size)
    scores = task.evaluate(predict, val, a.batch_size)
    print(f"{a.model} on {choice.data.source} (validation split): " + format_any_scores(scores))
    check = task.float_check(predict, val, scores, model, a.batch_size, choice.judged_by_dice, choice.summary())
    if check:
        print(check)
    return 0


def add_eval_parser(sub) -> None:
    e = sub.add_parser("eval", help="Dice, IoU and pixel accuracy of a model on the validation split")
    e.add_argument("model", help="a .keras (Keras 2 or 3) or .h5 file")
    data_args(e, default=None)
    model_args(e)
    e.add_argument("--batch-size", type=int, default=BenchConfig.batch_size, help="images per batch")
    e.add_argument("--seed", type=int, default=DataConfig.seed, help="seed of the data split")
    e.set_defaults(func=_cmd_eval)
