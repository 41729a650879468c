"""Sources: the float models artifacts are made from (the base model, and the pruned models
the config asks for), each with its own reference predictions and Dice.

Which sources exist is a table (MAKERS), not control flow: a new kind of source (a searched
model, say) is one more entry."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from ..artifacts.study_record import StudyRecord
from ..config import CompressConfig, DataConfig, PreprocessSpec
from ..data.dataset import SegmentationData
from ..scoring.predictors import Predictor, keras_predictor, memoized
from ..models.flops import model_flops
from ..models.io import save_model
from ..training.task_training import task_training
from ..scoring.budget import Budget
from ..scoring.task import task_for


@dataclass(frozen=True, eq=False)
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
    scores: dict = field(default_factory=dict)  # its float scores on the validation data (PQ for instance models)


@dataclass(frozen=True)
class RunInputs:
    """The run's inputs every maker reads; `log` prints progress lines."""

    config: CompressConfig
    spec: PreprocessSpec
    train: SegmentationData
    val: SegmentationData
    budget: Budget
    log: Callable[[str], None] = print


@dataclass(frozen=True)
class Original:
    """The user's model: what every source is made from, and what a pruned one is judged against."""

    model: object
    reference: Predictor
    flops: int


@dataclass(frozen=True)
class Recovery:
    """How a pruned model is fine-tuned back: it may stop early once the validation score (PQ
    for instance models) is back at `target`; `distill` is empty when distillation is off."""

    target: float | None
    distill: Mapping = field(default_factory=dict)


@dataclass(frozen=True)
class StudyInputs:
    """What --prune auto's study needs beyond the run: its candidates' calibration, where it lives
    (beside OUT itself, not its temporary stand-in) and what identifies the run for joining workers."""

    calibration: object
    final_out: Path
    model_sha256: str
    model_path: Path
    data_config: DataConfig | None


@dataclass(frozen=True)
class MakerInputs:
    """What the makers of MAKERS are called with: the narrow values above, and `out`, the
    folder their float models are saved in."""

    run: RunInputs
    original: Original
    recovery: Recovery
    out: Path
    study: StudyInputs


@dataclass(frozen=True)
class Made:
    """A maker's result: its source (None when nothing met the budget) and, for --prune auto,
    the study's report.json record."""

    source: Source | None
    study: StudyRecord | None = None


def base_source(model, reference: Predictor, score: float, flops: int, real_masks: bool = True,
                task: str = "semantic") -> Source:
    """`score` is the budget's (PQ for instance models). Without real masks nothing is tuned on
    them: QAT is no remedy, and decoding is not re-tuned."""
    return Source("base", "model", model, reference, score, flops, qat_remedy=real_masks, task=task,
                  real_masks=real_masks)


def _finish(inputs: MakerInputs, name: str, model, keras_file: str, label: str, fix: str,
            describe: Callable[[dict, int], dict], **fields) -> Source:
    """Saves the float model, scores it on the validation data (PQ for instance models) and
    applies the budget; its artifacts walk the remedy ladder of the model's task. `describe`
    (scores, flops) -> its report.json section."""
    run = inputs.run
    save_model(model, run.spec, inputs.out / keras_file)
    reference = memoized(keras_predictor(model, run.config.batch_size))
    task = task_for(run.spec)
    scores = task.evaluate(reference, run.val, run.config.batch_size)
    score, flops = scores[run.budget.metric], model_flops(model)
    within_budget = run.budget.admits(score)
    # a pruned float model is judged against the user's model before any artifact is made from it
    facts, refused = task.judge_against_original(reference, inputs.original.reference, run.val,
                                                 run.config.batch_size)
    scores.update(facts, refused=refused)
    if refused:
        within_budget = False
        run.log(f"      the {label} float model is refused before any artifact is made: {refused}")
    if not within_budget:
        run.log(f"      the {label} float model is already outside the budget ({run.budget.label} "
                f"{score:.4f}); only plain post-training quantization is tried: {fix}")
    return Source(name, f"model_{name}", model, reference, score, flops, label=label, fix=fix,
                  keras_file=keras_file, info=describe(scores, flops), within_budget=within_budget, task=task.name,
                  scores=scores, **fields)


def as_tf_keras_inputs(inputs: MakerInputs, step: str) -> MakerInputs | None:
    """The maker's inputs with the user's model (and the distillation teacher, the same model) as
    tf_keras: tfmot wraps tf_keras layers only, while the base model stays as it was loaded (a Keras 3
    model is kept as Keras 3). The rebuild is made here, on the first maker that needs it, once
    (as_tf_keras caches it; QAT reuses it). None, after one line, when it cannot be made. Channel
    pruning needs none: it prunes, fine-tunes and distills a Keras 3 model as it is."""
    from ..errors import ModelError, first_line
    from ..models.keras3 import as_tf_keras

    original = inputs.original
    try:
        model = as_tf_keras(original.model)
    except ModelError as exc:
        inputs.run.log(f"      skipped: {step} ({first_line(exc)}); everything else runs")
        return None
    distill = dict(inputs.recovery.distill)
    if distill.get("teacher") is original.model:
        distill["teacher"] = model
    return dataclasses.replace(inputs, original=dataclasses.replace(original, model=model),
                               recovery=dataclasses.replace(inputs.recovery, distill=distill))


def pruned_source(inputs: MakerInputs) -> Made:
    from ..prune.magnitude import prune
    from ..prune.tuning import finetune_info, pruning_budget

    inputs = as_tf_keras_inputs(inputs, "magnitude pruning")
    if inputs is None:
        return Made(None)
    run, c = inputs.run, inputs.run.config
    task = task_for(run.spec)
    run.log(f"      magnitude pruning to {c.sparsity:.0%} sparsity (fine-tuning {c.finetune_min_steps}-"
            f"{c.finetune_steps} steps)")
    result = prune(inputs.original.model, run.train, run.val, c.sparsity, pruning_budget(c), c.batch_size,
                   run.spec.classes, inputs.recovery.target, c.seed, c.verbose, run.log,
                   task=task_training(run.spec), **inputs.recovery.distill)

    def describe(scores: dict, flops: int) -> dict:
        return {"target": c.sparsity, "sparsity_model": result.sparsity, "steps": result.steps,
                **task.headline_scores(scores), "kept_dense": result.kept_dense, "path": "pruned.keras",
                "finetune": finetune_info(result.finetune)}

    source = _finish(inputs, "pruned", result.model, "pruned.keras", "pruning", "prune less (--sparsity)", describe,
                     target_sparsity=c.sparsity, preserve_sparsity=True)
    run.log(f"      measured sparsity {result.sparsity:.4f}; pruned Keras " + task.describe(source.scores))
    return Made(source)


def _searched(inputs: MakerInputs):
    """--prune auto: (the fastest channel-pruned model within the budget or None, the study's record)."""
    from ..search.context import SearchInputs, StudyPlace
    from ..search.study import cache_for, check_study
    from ..search.trial import study_prune

    run, c, study = inputs.run, inputs.run.config, inputs.study
    run.log(f"      searching the channel ratio for the fastest int8 model on {c.target} within the budget")
    search = SearchInputs(inputs.original.model, run.train, run.val, c, run.spec.to_dict(), study.calibration,
                          run.budget, inputs.recovery.target, inputs.recovery.distill, run.log)
    location = check_study(c.study, study.final_out, ())
    data = dataclasses.asdict(study.data_config) if study.data_config else None
    record = {"model": str(study.model_path), "data": data,
              "config": c.to_dict(), "input_shape": [run.spec.height, run.spec.width, run.spec.channels]}
    place = StudyPlace(location, cache_for(location, study.final_out), inputs.out / "search", study.model_sha256,
                       record)
    return study_prune(search, place)


def _channel_pruned(inputs: MakerInputs):
    """(the channel-pruned model at --channel-ratio, or the fastest within the budget (--prune
    auto), and the study's record or None)."""
    from ..prune.gradual import prune_channels_and_finetune
    from ..prune.tuning import pruning_budget

    run, c = inputs.run, inputs.run.config
    if c.prune == "auto":
        return _searched(inputs)
    run.log(f"      removing {c.channel_ratio:.0%} of the filters (fine-tuning {c.finetune_min_steps}-"
            f"{c.finetune_steps} steps, {c.channel_rounds} round(s), {c.channel_criterion} ranking)")
    return prune_channels_and_finetune(inputs.original.model, run.train, run.val, c.channel_ratio,
                                       pruning_budget(c), c.batch_size, run.spec.classes, inputs.recovery.target,
                                       c.seed, c.verbose, run.log, c.channel_rounds, c.channel_criterion,
                                       task_training(run.spec), **inputs.recovery.distill), None


def channels_source(inputs: MakerInputs) -> Made:
    from ..prune.resolution import scale_of
    from ..prune.tuning import finetune_info

    run, model, base_flops = inputs.run, inputs.original.model, inputs.original.flops
    result, study = _channel_pruned(inputs)
    if result is None:
        run.log("      no candidate met the budget: no channel-pruned artifact")
        return Made(None, study)
    task = task_for(run.spec)

    def describe(scores: dict, flops: int) -> dict:
        return {"ratio": result.ratio, **task.headline_scores(scores), "flops": flops,
                "flops_ratio": flops / base_flops, "parameters": result.model.count_params(),
                "parameters_before": model.count_params(), "kept_filters": result.kept,
                "kept_whole": result.frozen, "input_scale": scale_of(result.model), "path": "channels.keras",
                "prunable_macs": getattr(result, "prunable_macs", None), "refused": scores.get("refused"),
                "finetune": finetune_info(getattr(result, "finetune", None))}

    source = _finish(inputs, "channels", result.model, "channels.keras", "channel pruning",
                     "remove fewer filters (--channel-ratio)", describe)
    run.log(f"      {source.flops / 1e9:.2f} GFLOPs ({source.flops / base_flops:.2f}x), "
            f"{result.model.count_params():,} parameters; channel-pruned Keras " + task.describe(source.scores))
    return Made(source, study)


# source name -> (is it asked for, the step title, the maker)
MAKERS: dict[str, tuple[Callable[[CompressConfig], bool], str, Callable[[MakerInputs], Made]]] = {
    "pruned": (lambda c: c.prune == "magnitude" and c.sparsity > 0, "magnitude pruning (tfmot)", pruned_source),
    "channels": (lambda c: c.prune in ("channels", "auto"), "channel pruning (whole filters removed)",
                 channels_source),
}


def wanted_sources(config: CompressConfig) -> list[str]:
    return [name for name, (wanted, _, _) in MAKERS.items() if wanted(config)]
