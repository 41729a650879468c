"""Sources: the float models artifacts are made from (the base model, and the pruned models
the config asks for), each with its own reference predictions and Dice.

Which sources exist is a table (MAKERS), not control flow: a new kind of source (a searched
model, say) is one more entry."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..config import CompressConfig, PreprocessSpec
from ..data.dataset import SegmentationData
from ..scoring.predictors import Predictor, keras_predictor, memoized
from ..models.flops import model_flops
from ..models.io import save_model
from ..training.task_training import task_training
from ..scoring.budget import Budget
from ..scoring.task import task_for


@dataclass
class Source:
    name: str  # base | pruned | channels
    prefix: str  # artifact file names start with it
    model: object
    reference: Predictor
    dice: float
    flops: int
    label: str = ""  # what changed the model, for reasons: "pruning", "channel pruning"
    fix: str = ""  # what a user can change when it misses the budget
    keras_file: str | None = None  # the float model, saved beside the artifacts
    info: dict | None = None  # its section of report.json
    target_sparsity: float | None = None
    preserve_sparsity: bool = False  # QAT must keep its zeros (pruning-preserving QAT)
    qat_remedy: bool = False  # QAT may be tried as the guard's last remedy
    within_budget: bool = True
    task: str = "semantic"  # the model's task: which remedy ladder its quantized artifacts walk
    real_masks: bool = True  # False on stand-in images: nothing may be tuned on their masks


@dataclass
class SourceContext:
    """What every maker needs; `log` prints progress lines."""

    config: CompressConfig
    spec: PreprocessSpec
    train: SegmentationData
    val: SegmentationData
    out: Path
    budget: Budget
    base_flops: int
    log: Callable[[str], None] = print
    scores: dict = field(default_factory=dict)
    target_dice: float | None = None  # fine-tuning may stop early once the validation score (PQ for instance
    # models) is back here
    distill: dict = field(default_factory=dict)  # finetune's distillation arguments, empty when off
    calibration: object = None  # for --prune auto's candidates
    study: dict | None = None  # --prune auto's study record (the Pareto fronts)
    final_out: Path | None = None  # OUT itself (`out` is its temporary stand-in): the study lives beside it
    model_sha256: str = ""  # the model file's, for the study's cache key
    model_path: Path | None = None  # and the file and data, for `search-worker --role train` to rebuild the run
    data_config: object = None
    base_reference: Predictor | None = None  # the user's original float model: pruned sources are judged against it


def base_source(model, reference: Predictor, score: float, flops: int, real_masks: bool = True,
                task: str = "semantic") -> Source:
    """`score` is the budget's (PQ for instance models). Without real masks nothing is tuned on
    them: QAT is no remedy, and decoding is not re-tuned."""
    return Source("base", "model", model, reference, score, flops, qat_remedy=real_masks, task=task,
                  real_masks=real_masks)


def _finish(ctx: SourceContext, name: str, model, keras_file: str, **fields) -> Source:
    """Saves the float model, scores it on the validation data (PQ for instance models) and
    applies the budget; its artifacts walk the remedy ladder of the model's task."""
    save_model(model, ctx.spec, ctx.out / keras_file)
    reference = memoized(keras_predictor(model, ctx.config.batch_size))
    task = task_for(ctx.spec)
    scores = task.evaluate(reference, ctx.val, ctx.config.batch_size)
    ctx.scores[name] = scores
    source = Source(name, f"model_{name}", model, reference, scores[ctx.budget.metric], model_flops(model),
                    keras_file=keras_file, task=task.name, **fields)
    source.within_budget = ctx.budget.admits(source.dice)
    # a pruned float model is judged against the user's model before any artifact is made from it
    if ctx.base_reference is not None:
        facts, refused = task.judge_against_original(reference, ctx.base_reference, ctx.val, ctx.config.batch_size)
        scores.update(facts, refused=refused)
        if refused:
            source.within_budget = False
            ctx.log(f"      the {source.label} float model is refused before any artifact is made: {refused}")
    if not source.within_budget:
        ctx.log(f"      the {source.label} float model is already outside the budget ({ctx.budget.label} "
                f"{source.dice:.4f}); only plain post-training quantization is tried: {source.fix}")
    return source


def pruned_source(model, ctx: SourceContext) -> Source:
    from ..prune.magnitude import prune
    from ..prune.tuning import finetune_info, pruning_budget

    c = ctx.config
    ctx.log(f"      magnitude pruning to {c.sparsity:.0%} sparsity (fine-tuning {c.finetune_min_steps}-"
            f"{c.finetune_steps} steps)")
    result = prune(model, ctx.train, ctx.val, c.sparsity, pruning_budget(c), c.batch_size, ctx.spec.classes,
                   ctx.target_dice, c.seed, c.verbose, ctx.log, task=task_training(ctx.spec), **ctx.distill)
    source = _finish(ctx, "pruned", result.model, "pruned.keras", label="pruning", fix="prune less (--sparsity)",
                     target_sparsity=c.sparsity, preserve_sparsity=True)
    scores = ctx.scores["pruned"]
    source.info = {"target": c.sparsity, "sparsity_model": result.sparsity, "steps": result.steps,
                   **task_for(ctx.spec).headline_scores(scores), "kept_dense": result.kept_dense,
                   "path": source.keras_file, "finetune": finetune_info(result.finetune)}
    ctx.log(f"      measured sparsity {result.sparsity:.4f}; pruned Keras " + task_for(ctx.spec).describe(scores))
    return source


def _channel_pruned(model, ctx: SourceContext):
    """The channel-pruned model: at --channel-ratio, or the fastest within the budget (--prune auto)."""
    from ..prune.gradual import prune_channels_and_finetune
    from ..prune.tuning import pruning_budget

    c = ctx.config
    if c.prune == "auto":
        from ..search.context import SearchContext
        from ..search.study import cache_for, check_study
        from ..search.trial import study_prune

        ctx.log(f"      searching the channel ratio for the fastest int8 model on {c.target} within the budget")
        search = SearchContext(model, ctx.train, ctx.val, c, ctx.spec.to_dict(), ctx.calibration,
                               ctx.budget, ctx.target_dice, ctx.out / "search", ctx.distill, ctx.log)
        out = ctx.final_out or ctx.out
        location = check_study(c.study, out, ())
        data = dataclasses.asdict(ctx.data_config) if ctx.data_config else None
        run = {"model": str(ctx.model_path), "data": data,
               "config": c.to_dict(), "input_shape": [ctx.spec.height, ctx.spec.width, ctx.spec.channels]}
        winner, ctx.study = study_prune(search, location, ctx.model_sha256, cache_for(location, out), run)
        return winner
    ctx.log(f"      removing {c.channel_ratio:.0%} of the filters (fine-tuning {c.finetune_min_steps}-"
            f"{c.finetune_steps} steps, {c.channel_rounds} round(s), {c.channel_criterion} ranking)")
    return prune_channels_and_finetune(model, ctx.train, ctx.val, c.channel_ratio, pruning_budget(c), c.batch_size,
                                       ctx.spec.classes, ctx.target_dice, c.seed, c.verbose, ctx.log,
                                       c.channel_rounds, c.channel_criterion, task_training(ctx.spec), **ctx.distill)


def channels_source(model, ctx: SourceContext) -> Source | None:
    from ..prune.tuning import finetune_info

    result = _channel_pruned(model, ctx)
    if result is None:
        ctx.log("      no candidate met the budget: no channel-pruned artifact")
        return None
    source = _finish(ctx, "channels", result.model, "channels.keras", label="channel pruning",
                     fix="remove fewer filters (--channel-ratio)")
    scores = ctx.scores["channels"]
    source.info = {"ratio": result.ratio, **task_for(ctx.spec).headline_scores(scores), "flops": source.flops,
                   "flops_ratio": source.flops / ctx.base_flops, "parameters": result.model.count_params(),
                   "parameters_before": model.count_params(), "kept_filters": result.kept,
                   "kept_whole": result.frozen, "path": source.keras_file,
                   "prunable_macs": getattr(result, "prunable_macs", None), "refused": scores.get("refused"),
                   "finetune": finetune_info(getattr(result, "finetune", None))}
    ctx.log(f"      {source.flops / 1e9:.2f} GFLOPs ({source.flops / ctx.base_flops:.2f}x), "
            f"{result.model.count_params():,} parameters; channel-pruned Keras " + task_for(ctx.spec).describe(scores))
    return source


# source name -> (is it asked for, the step title, the maker)
MAKERS: dict[str, tuple[Callable[[CompressConfig], bool], str, Callable[[object, SourceContext], Source | None]]] = {
    "pruned": (lambda c: c.prune == "magnitude" and c.sparsity > 0, "magnitude pruning (tfmot)", pruned_source),
    "channels": (lambda c: c.prune in ("channels", "auto"), "channel pruning (whole filters removed)",
                 channels_source),
}


def wanted_sources(config: CompressConfig) -> list[str]:
    return [name for name, (wanted, _, _) in MAKERS.items() if wanted(config)]
