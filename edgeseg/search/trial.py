"""--prune auto on an Optuna study, the TensorFlow side: a trial's candidate is channel-pruned (or
run at a lower input resolution inside a wrapper that keeps the user's, prune/resolution.py),
fine-tuned, int8-quantized, verified in LiteRT and timed on the worker's runtime; fine-tuned
candidates are cached on disk under study_logic.candidate_key, so a retried or resumed trial (or
a `search-worker --role measure` on a device) reuses them instead of training again."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from ..artifacts.files import sha256
from .timing import measure_interleaved
from .context import SearchInputs, StudyPlace, int8_file, target_runtime
from .study import RUN, Outcome, kind_of, open_study, proposer, pruned, resumable, rows, trial_attrs, work
from .logic import Row, by_device, candidate_key, hopeless, pareto_front, winner
from .per_layer_plan import PerLayerPlanner
from .report import study_info

CANDIDATE = "candidate.json"  # the cache entry's record; written last, so its presence means complete
JUDGED = ("dice", "mask_agreement", "mean_abs_diff")  # the int8 scores the Budget judges a candidate by
SETTINGS = ("finetune_steps", "finetune_min_steps", "finetune_time", "finetune_lr", "batch_size", "channel_rounds",
            "channel_criterion", "distill", "unlabeled", "max_dice_drop", "calibration_samples", "finetune_scale")


def data_digest(ctx: SearchInputs) -> str:
    """The training, validation and calibration pixels and labels, hashed: same data, same digest."""
    digest = hashlib.sha256()
    for data in (ctx.train, ctx.val):
        for i in range(len(data)):
            for array in data.unit_sample(i):
                digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(np.ascontiguousarray(ctx.calibration).tobytes())
    return digest.hexdigest()


def settings_of(config) -> dict:
    """The settings a fine-tuned candidate depends on (part of its cache key and of the study's identity)."""
    return {name: getattr(config, name) for name in SETTINGS}


def identity(ctx: SearchInputs, model_sha256: str, data: str, cache: Path) -> dict:
    """What the study is for (`data`: data_digest): a study made for anything else is refused, not mixed in.
    `kinds` is the search space: Optuna refuses a categorical parameter whose choices changed, so a
    study made by a version with other candidate kinds is refused in one line, not failed per trial."""
    from .logic import KINDS

    return {"model_sha256": model_sha256, "data": data, "seed": ctx.config.seed, "settings": settings_of(ctx.config),
            "kinds": list(KINDS), "cache": str(cache)}


def machine_label(threads: int) -> str:
    from ..runtimes.machine import machine_info

    return machine_info(threads)["label"]


def _make_entry(ratio: float, ctx: SearchInputs, entry: Path, counts: dict[str, int] | None = None,
                scale: float = 1.0) -> dict | None:
    """Fine-tunes and quantizes one candidate (a uniform `ratio`, per-space `counts`, or an input
    `scale` < 1) into `entry` (a temporary folder); None when it is hopeless after its recovery
    fine-tuning (nothing cached: its trial is recorded as pruned)."""
    from ..scoring.predictors import keras_predictor
    from ..models.flops import model_flops
    from ..models.io import save_model
    from ..config import PreprocessSpec
    from ..prune.gradual import prune_channels_and_finetune
    from ..prune.tuning import pruning_budget
    from ..scoring.task import task_for

    config, start = ctx.config, time.perf_counter()
    budget = pruning_budget(config, search=True)
    if scale < 1.0:
        from ..prune.resolution import scale_and_finetune

        result = scale_and_finetune(ctx.model, scale, ctx.train, ctx.val, budget, config.batch_size,
                                    ctx.spec_dict["classes"], ctx.target_dice, config.seed, 0, ctx.log, **ctx.distill)
    else:
        result = prune_channels_and_finetune(ctx.model, ctx.train, ctx.val, ratio, budget,
                                             config.batch_size, ctx.spec_dict["classes"], ctx.target_dice,
                                             config.seed, 0, ctx.log, config.channel_rounds,
                                             config.channel_criterion, counts=counts, **ctx.distill)
    tuned = result.finetune.to_dict()
    if hopeless(tuned["best_dice"], ctx.budget):
        return {"ratio": ratio, "float_dice": tuned["best_dice"], "hopeless": True,
                "finetune_stop": tuned["stopped_because"]}
    path = int8_file(result.model, ctx, entry / "int8.tflite")
    verify = task_for(ctx.spec_dict).verifier(ctx.val, keras_predictor(result.model, config.batch_size),
                                              ctx.spec_dict, config.batch_size)
    scores = verify(path).scores
    judged = {k: None if scores.get(k) is None else float(scores[k]) for k in JUDGED}
    save_model(result.model, PreprocessSpec.from_dict(ctx.spec_dict), entry / "model.keras")
    kind = "resolution" if scale < 1.0 else "uniform" if counts is None else "per_layer"
    return {"ratio": result.ratio, "kind": kind, "scale": scale, "dice": scores["dice"], "scores": judged,
            "float_dice": tuned["best_dice"], "bytes": path.stat().st_size,
            "sha256": sha256(path), "gflops": round(model_flops(result.model) / 1e9, 3),
            "parameters": result.model.count_params(), "kept": result.kept, "frozen": result.frozen,
            "finetune": tuned, "seconds": round(time.perf_counter() - start, 1)}


def cached_candidate(ratio: float, ctx: SearchInputs, cache: Path, key: str,
                     counts: dict[str, int] | None = None, scale: float = 1.0) -> tuple[dict, bool]:
    """(the candidate's record, whether it came from the cache). Made in a temporary folder that
    is renamed into place, so a killed run leaves no half-written entry."""
    entry = cache / key
    if (entry / CANDIDATE).is_file():
        return json.loads((entry / CANDIDATE).read_text()), True
    tmp = cache / f".{key}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    record = _make_entry(ratio, ctx, tmp, counts, scale)
    (tmp / CANDIDATE).write_text(json.dumps(record, indent=1))
    try:
        os.rename(tmp, entry)
    except OSError:  # another worker finished the same candidate first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return json.loads((entry / CANDIDATE).read_text()), False


def evaluator(ctx: SearchInputs, model_sha256: str, data: str, cache: Path, runtime, threads: int, plain: Path,
              scratch: Path):
    """The trial body: candidate (cached or made), then its p50 interleaved with plain int8's."""
    import optuna

    machine = machine_label(threads)
    image, settings = ctx.timing_image(), settings_of(ctx.config)
    planner = PerLayerPlanner(ctx, model_sha256, runtime, machine, threads, cache, scratch)

    def evaluate(ratio: float, trial) -> Outcome:
        kind = kind_of(trial.params)
        candidate, counts = _plan(kind, ratio, planner, trial, ctx.log)
        key = candidate_key(model_sha256, {"digest": data}, candidate, settings, ctx.config.seed)
        record, reused = cached_candidate(ratio, ctx, cache, key, counts, candidate.get("scale", 1.0))
        trial.set_user_attr("key", key)
        trial.set_user_attr("float_dice", record["float_dice"])
        finetune_stop = record.get("finetune_stop") or record.get("finetune", {}).get("stopped_because")
        if record.get("hopeless"):
            why = hopeless(record["float_dice"], ctx.budget)
            why += f" (fine-tuning {finetune_stop})" if finetune_stop else ""
            trial.set_user_attr("stopped_because", why)
            ctx.log(f"      candidate {kind} {ratio:.4f}: {why}: stopped")
            raise optuna.TrialPruned()
        deployable, reason = judge(ctx.budget, record)
        p50, plain_p50 = measure_interleaved([cache / key / "int8.tflite", plain],
                                             lambda p: runtime.load(p, threads), image)
        verdict = "" if deployable else f"; not deployable: {reason}"
        ctx.log(f"      candidate {kind} {ratio:.4f}: int8 Dice {record['dice']:.4f}, p50 {p50:.2f} ms (plain int8 "
                f"{plain_p50:.2f} ms){' (cached)' if reused else ''}{verdict}"
                + (f"; fine-tuning {finetune_stop}" if finetune_stop else ""))
        attrs = {"key": key, "float_dice": record["float_dice"], "cached": reused, "plain_int8_p50_ms": round(plain_p50, 4),
                 "gflops": record["gflops"], "parameters": record["parameters"], "sha256": record["sha256"],
                 "threads": threads, "scores": candidate_scores(record), "deployable": deployable, "reason": reason,
                 "kept": {name: list(pair) for name, pair in record["kept"].items()},
                 "scale": record.get("scale", 1.0), "finetune_stop": finetune_stop}
        return Outcome(round(p50, 4), record["dice"], record["bytes"], runtime.name, machine, attrs)

    evaluate.planner = planner  # the proposer asks its table for the resolution options
    return evaluate


def study_proposer(limit: int, evaluate):
    """work()'s proposer, with the resolution kind's options taken from the evaluator's latency table
    (asked only when that kind's turn comes: the table may be measured then)."""
    planner = evaluate.planner
    return proposer(limit, points={"resolution": lambda: list(planner.scale_points())})


def _plan(kind: str, ratio: float, planner: PerLayerPlanner, trial, log) -> tuple[dict, dict[str, int] | None]:
    """(the candidate as its cache key sees it, per-space counts or None for a uniform ratio). A
    per-layer candidate whose table shows no step that saves time is stopped (`empty`: the kind is
    dropped), and so is one whose table ran out of steps before its target (a `ceiling`) at an
    estimate no faster than a candidate already measured; otherwise a ceiling means nothing bolder.
    A resolution candidate is the table's scale nearest its latency cut (a ceiling at the boldest)."""
    import optuna

    def stop(why: str):  # the kind is dropped (`empty`): a bolder ratio of it cannot do better
        trial.set_user_attr("empty", True)
        trial.set_user_attr("stopped_because", why)
        log(f"      candidate {kind} {ratio:.4f}: {why}: stopped")
        raise optuna.TrialPruned(why)

    if kind == "uniform":
        return {"ratio": ratio}, None
    if kind == "resolution":  # proposed only at the table's own options (study_proposer)
        try:
            scale = planner.scale_for(ratio)
        except LookupError as exc:  # another worker proposed it from its own machine's table
            stop(f"{exc} on this machine")
        table = planner.table()
        trial.set_user_attr("scale", scale)
        trial.set_user_attr("ceiling", scale == min(table.faster_scales()))
        trial.set_user_attr("estimated_ms", round(table.scales[scale], 4))
        log(f"      candidate resolution {ratio:.4f}: the network at input scale {scale:g} (table: "
            f"{table.scales[scale]:.3f} of {table.base_ms:.3f} ms)")
        return {"kind": kind, "scale": scale}, None
    choice = planner.choice(ratio)
    table = planner.table()
    trial.set_user_attr("ceiling", not choice.reached)
    trial.set_user_attr("estimated_ms", round(choice.estimated_ms, 4))
    trial.set_user_attr("target_ms", round(table.base_ms * (1.0 - ratio), 4))
    if not choice.steps:
        stop(f"the latency table on {table.runtime} shows no channel step that saves time")
    best, share = _best_measured(trial), choice.estimated_ms / table.base_ms
    if not choice.reached and best is not None and share >= best:
        stop(f"the table's boldest per-layer counts ({share:.2f}x plain int8, estimated) are no faster than a "
             f"candidate already measured ({best:.2f}x)")
    log(f"      candidate per_layer {ratio:.4f}: counts for {table.base_ms * (1 - ratio):.3f} ms (estimate "
        f"{choice.estimated_ms:.3f} of {table.base_ms:.3f} ms): " + ", ".join(f"{s.space} {s.after}" for s in choice.steps))
    return {"kind": kind, "counts": dict(sorted(choice.counts.items()))}, choice.counts


def _best_measured(trial) -> float | None:
    """The fastest deployable candidate finished so far, as a share of plain int8's p50 in its own
    timing: a per-layer kind whose boldest counts the table estimates no faster cannot win, and
    its fine-tuning (3-4 minutes at 128x128 on 2 cores) is not spent."""
    from optuna.trial import TrialState

    study = getattr(trial, "study", None)
    if study is None:
        return None
    shares = [t.values[0] / t.user_attrs["plain_int8_p50_ms"]
              for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
              if t.user_attrs.get("deployable") and t.user_attrs.get("plain_int8_p50_ms")]
    return min(shares, default=None)


def candidate_scores(record: dict) -> dict:
    """A candidate's int8 verification scores (a record cached before they were kept has its Dice only)."""
    return record.get("scores") or {"dice": record["dice"]}


def judge(budget, record: dict) -> tuple[bool, str]:
    """(deployable, reason) of a candidate, by compress's Budget: its floor, the agreement with its
    float model, and the baseline's sanity check."""
    return budget.judge(candidate_scores(record))


def load_winner(cache: Path, key: str, custom_objects=None, unsafe: bool = False):
    """The winner's fine-tuned float model from the cache, as channel pruning's result; the run's
    --custom-objects file and --unsafe are honoured here too (the cached file holds the user's layers,
    Lambda layers included)."""
    from ..models.io import load_model
    from ..training.finetune import FinetuneResult
    from ..prune.channels import ChannelPruneResult

    record = json.loads((cache / key / CANDIDATE).read_text())
    model, _ = load_model(cache / key / "model.keras", unsafe=unsafe, custom_objects=custom_objects, keep_keras3=True)
    tuned = record["finetune"]
    finetune = FinetuneResult(tuned["steps"], [tuple(p) for p in tuned["dice_curve"]], tuned["best_step"] or 0,
                              float("nan") if tuned["best_dice"] is None else tuned["best_dice"],
                              tuned["stopped_because"], tuned["seconds"])
    kept = {name: tuple(pair) for name, pair in record["kept"].items()}
    return ChannelPruneResult(model, record["ratio"], kept, record["frozen"], finetune)


def retimed(found: list[Row], attrs: dict[int, dict], cache: Path, plain: Path, runtime, machine: str,
            threads: int, image) -> tuple[list[Row], float | None]:
    """This machine's rows with every candidate and plain int8 timed again in one interleaved run:
    per-trial timings were taken minutes apart, under whatever load the machine had then (on a
    shared machine plain int8 alone varied 8-14 ms between trials), so they are compared here in
    one run, as the bisection does. Returns (rows, plain int8 p50)."""
    mine = [r for r in found if (r.runtime, r.machine) == (runtime.name, machine)]
    if not mine:
        return found, None
    p50s = measure_interleaved([cache / attrs[r.trial]["key"] / "int8.tflite" for r in mine] + [plain],
                               lambda p: runtime.load(p, threads), image)
    again = [dataclasses.replace(r, latency_ms=round(p, 4)) for r, p in zip(mine, p50s)]
    return [r for r in found if r not in mine] + again, round(p50s[-1], 4)


def study_prune(ctx: SearchInputs, place: StudyPlace):
    """(the winner's ChannelPruneResult or None, the report.json record of the study). The run
    (model and data paths, config, input shape) is kept in the study for joining workers."""
    config, start = ctx.config, time.perf_counter()
    runtime = target_runtime(config.target)
    data = data_digest(ctx)
    location = place.location
    folder = Path(location).parent if "://" not in location else None
    fresh = folder is not None and folder.name.endswith(".study") and not folder.exists()
    study = None
    try:
        study = open_study(location, identity(ctx, place.model_sha256, data, place.cache), [])
        return _run_study(ctx, study, place, data, runtime, start)
    except BaseException:
        _after_failure(study, location, folder if fresh else None, place.cache, ctx.log)
        raise


def _after_failure(study, location: str, made: Path | None, cache: Path, log) -> None:
    """A failed or interrupted run: the study folder this run made is removed when nothing in it
    can be resumed; otherwise it stays, and the user is told how to resume."""
    count = resumable(study, cache)
    if count:
        log(f"      the study {location} keeps {count} finished candidate(s); rerun the same command to resume it")
    elif made is not None:
        shutil.rmtree(made, ignore_errors=True)


def _run_study(ctx: SearchInputs, study, place: StudyPlace, data: str, runtime, start: float):
    config, location, cache = ctx.config, place.location, place.cache
    if place.run is not None:
        study.set_user_attr(RUN, place.run)
    place.folder.mkdir(exist_ok=True)
    plain = int8_file(ctx.model, ctx, place.folder / "plain_int8.tflite")
    threads = os.cpu_count() or 1
    ctx.log(f"      study {location}: up to {config.search_trials} candidate(s), each proposed from the results "
            f"so far; this worker times them on {runtime.name}")
    evaluate = evaluator(ctx, place.model_sha256, data, cache, runtime, threads, plain, place.folder)
    ran = work(study, evaluate, config.search_time, wait_for_others=True, log=ctx.log,
               proposer=study_proposer(config.search_trials, evaluate))
    machine, attrs = machine_label(threads), trial_attrs(study)
    ctx.log(f"      timing this machine's finished candidates and plain int8 on {runtime.name}, interleaved")
    found, plain_p50 = retimed(rows(study), attrs, cache, plain, runtime, machine, threads,
                               ctx.timing_image())
    fronts = {group: pareto_front(members) for group, members in by_device(found).items()}
    best = winner(by_device(found).get((runtime.name, machine), []),
                  lambda r: ctx.budget.judge((attrs.get(r.trial) or {}).get("scores") or {"dice": r.dice})[0])
    info = study_info(location, found, fronts, best, ctx.budget.floor, runtime.name, machine, attrs, pruned(study),
                      ran, time.perf_counter() - start, place.folder, plain_p50)
    if best is None:
        return None, info
    return load_winner(cache, attrs[best.trial]["key"], config.custom_objects, config.unsafe), info


__all__ = ["cached_candidate", "study_proposer", "data_digest", "identity", "load_winner", "study_prune"]
