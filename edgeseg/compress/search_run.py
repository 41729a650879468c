"""--prune auto, the TensorFlow side: make, score and time the candidates of search.py."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..config import CompressConfig
from ..errors import UsageError
from ..evaluate import keras_predictor
from .search import Candidate, choose, measure_interleaved, run_search, search_info
from .search_plot import plot_candidates


@dataclass
class SearchContext:
    """What every candidate is made from and measured against."""

    model: object
    train: object
    val: object
    config: CompressConfig
    spec_dict: dict
    calibration: object
    base_dice: float
    target_dice: float
    folder: Path  # OUT/search inside the run's temporary directory
    distill: dict
    log: Callable[[str], None]

    @property
    def floor(self) -> float:
        """The lowest int8 Dice within the budget."""
        return self.base_dice - self.config.max_dice_drop

    def timing_image(self):
        """The one image every candidate is timed on."""
        return self.val.batch([0])[0].astype("float32")


def target_runtime(name: str):
    from ..runtimes import REGISTRY

    runtime = REGISTRY.get(name)
    if runtime is None or "tflite" not in runtime.formats:
        tflite = [n for n, r in REGISTRY.items() if "tflite" in r.formats]
        raise UsageError(f"--target must be a runtime that runs TFLite ({', '.join(tflite)}), got {name!r}")
    ok, reason = runtime.is_available()
    if not ok:
        raise UsageError(f"--target {name} is unavailable here: {reason}")
    return runtime


def int8_file(model, ctx: SearchContext, name: str) -> Path:
    from ..quantize.tflite_int8 import calibrate, quantize_calibrated
    from ..artifacts.tflite import finalize

    path = ctx.folder / name
    path.write_bytes(finalize(quantize_calibrated(calibrate(model, ctx.calibration), True), ctx.spec_dict))
    return path


def make_candidate(ratio: float, ctx: SearchContext) -> Candidate:
    from ..models.flops import model_flops
    from .gradual import prune_channels_and_finetune
    from .tuning import pruning_budget
    from .verify import verify

    start, config = time.perf_counter(), ctx.config
    structured = prune_channels_and_finetune(ctx.model, ctx.train, ctx.val, ratio, pruning_budget(config),
                                             config.batch_size, ctx.spec_dict["classes"], ctx.target_dice,
                                             config.seed, 0, ctx.log, config.channel_rounds,
                                             config.channel_criterion, **ctx.distill)
    path = int8_file(structured.model, ctx, f"channels_{round(ratio * 1e4):04d}_int8.tflite")
    dice = verify(path, ctx.val, keras_predictor(structured.model, config.batch_size), config.batch_size).scores["dice"]
    tuned = structured.finetune.to_dict()
    return Candidate(ratio, dice, dice >= ctx.floor, tuned["best_dice"],
                     round(model_flops(structured.model) / 1e9, 3), structured.model.count_params(),
                     structured.finetune.steps, path=f"{ctx.folder.name}/{path.name}",
                     seconds=time.perf_counter() - start, model=structured)


def auto_prune(ctx: SearchContext):
    """(the winner's ChannelPruneResult or None, the report.json record of the search)."""
    config, start = ctx.config, time.perf_counter()
    runtime = target_runtime(config.target)
    ctx.folder.mkdir(exist_ok=True)
    candidates = run_search(lambda r: make_candidate(r, ctx), config.search_trials, config.search_time, ctx.log)
    plain = int8_file(ctx.model, ctx, "plain_int8.tflite")
    threads = os.cpu_count() or 1
    image = ctx.timing_image()
    ctx.log(f"      timing {len(candidates)} candidate(s) and plain int8 on {runtime.name}, {threads} threads, "
            f"interleaved")
    p50s = measure_interleaved([ctx.folder.parent / c.path for c in candidates] + [plain],
                               lambda p: runtime.load(p, threads), image)
    for c, p50 in zip(candidates, p50s):
        c.p50_ms = round(p50, 3)
    winner = choose(candidates)
    info = search_info(candidates, winner, round(p50s[-1], 3), runtime.name, threads, time.perf_counter() - start)
    plot = plot_candidates(info, ctx.floor, ctx.folder / "candidates.png")
    info["plot"] = None if plot is None else f"{ctx.folder.name}/{plot.name}"
    for c in candidates:
        ctx.log(f"      ratio {c.ratio:.4f}: p50 {c.p50_ms:.2f} ms (plain int8 {p50s[-1]:.2f} ms), int8 Dice "
                f"{c.dice:.4f}{'  <- winner' if c is winner else ''}")
    return (None if winner is None else winner.model), info


__all__ = ["SearchContext", "auto_prune", "make_candidate", "target_runtime"]
