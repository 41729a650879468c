"""compress: load -> baseline -> sources (base, pruned, ...) -> plan -> build each target ->
report.

The artifacts are a plan (sources x kinds, see plan.py) that one function builds target by
target. Everything is written into a temporary directory that replaces OUT only when the run
succeeds, so an interrupted or failed run leaves nothing half-written."""
from __future__ import annotations

import dataclasses
import functools
import json
import time
from contextlib import contextmanager
from pathlib import Path


from ..artifacts import typed
from ..artifacts.compress_records import (Baseline, ChannelsRecord, EdgeTpuRecord, InstanceRecord, PlanRow,
                                          PruningRecord, SanityRecord)
from ..artifacts.compress_report import SCHEMA, ArtifactRecord, CompressReport
from ..artifacts.files import sha256
from ..artifacts.study_record import StudyRecord
from ..config import CompressConfig
from ..data.dataset import calibration_images
from ..data.instance_data import load_task_splits
from ..scoring.predictors import keras_predictor, memoized
from ..scoring.task import task_for
from ..models.io import load_model
from ..outputs import atomic_output_dir, check_output_dir
from ..preflight import check_compress_inputs
from ..quantize.methods import LADDERS, Quantizer
from ..scoring.sanity import BaselineCheck
from .build import BuildInputs, build_all
from .data_source import DataChoice, choose_data, skipped_steps
from .plan import plan, render_plan
from .report import render_terminal, write_reports
from .speed import InterleavedTimer, Timer, time_deployable
from .sources import (MAKERS, MakerInputs, Original, Recovery, RunInputs, Source, StudyInputs, base_source,
                      wanted_sources)
from ..prune.tuning import distill_kwargs, qat_budget, recovery_target, too_little_data
from .verdict import recommend, render_verdict


def default_out_dir(model_path: Path) -> Path:
    return Path(model_path).with_name(f"{Path(model_path).stem}_edgeseg")


class Progress:
    """Numbered step lines with their durations, and the timings for report.json."""

    def __init__(self, verbose: int, total_steps: int):
        self.verbose, self.total, self.done, self.timings = verbose, total_steps, 0, {}

    def log(self, text: str) -> None:
        if self.verbose:
            print(text, flush=True)

    @contextmanager
    def step(self, key: str, title: str):
        self.done += 1
        self.log(f"[{self.done}/{self.total}] {title}")
        start = time.perf_counter()
        yield
        self.timings[key] = round(time.perf_counter() - start, 2)
        self.log(f"      done in {self.timings[key]:.1f} s")


def _trainable(makers: list[str], train_images: int, val_images: int, run: Progress) -> tuple[list[str], str | None]:
    """The sources that fine-tune, unless the data is too small for fine-tuning to mean anything."""
    skipped = too_little_data(train_images, val_images) if makers else None
    if skipped:  # pruning without fine-tuning would only ruin the model
        run.log(f"      skipping pruning: {skipped}; post-training quantization only")
        run.total -= len(makers)
        return [], skipped
    if not makers:
        run.log("      post-training quantization only (the default); --prune auto searches for a faster "
                "channel-pruned model within the budget")
    return makers, None


def _unlabeled_batches(config: CompressConfig, spec):
    """Scans --unlabeled now (a bad directory fails before any work), decodes it lazily."""
    from ..data.unlabeled import scan_unlabeled, unlabeled_batches

    paths = scan_unlabeled(Path(config.unlabeled))
    return lambda: unlabeled_batches(Path(config.unlabeled), spec, config.batch_size, config.seed, paths)


def _semantic_qat(source: Source, run: RunInputs, target: float | None):
    from ..models.keras3 import as_tf_keras
    from ..quantize.qat import quantization_aware

    c = run.config
    return quantization_aware(as_tf_keras(source.model), run.train, run.val, qat_budget(c), c.batch_size, run.spec.classes,
                              source.preserve_sparsity, target, c.seed, c.verbose, run.log)


def _instance_qat(source: Source, run: RunInputs, target: float | None):
    """The instance loss; the guard judges the result by PQ."""
    from ..models.keras3 import as_tf_keras
    from ..quantize.qat_instance import instance_quantization_aware

    c = run.config
    return instance_quantization_aware(as_tf_keras(source.model), run.train, qat_budget(c), c.batch_size, c.seed, c.verbose,
                                       run.log, preserve_sparsity=source.preserve_sparsity)


# task name -> quantization-aware training of a source (the loss it trains with)
QAT_BY_TASK = {"semantic": _semantic_qat, "instance": _instance_qat}


def _quantizer(source: Source, calibration, more_calibration, run: RunInputs, recovery: Recovery,
               building: BuildInputs, trains: bool) -> Quantizer:
    """`trains` False: no QAT remedy either (no real images to train on)."""
    qat = QAT_BY_TASK[task_for(run.spec).name]
    return Quantizer(source.model, calibration, more_calibration,
                     functools.partial(qat, source, run, recovery.target) if trains else None,
                     functools.partial(building.onnx_float, source), run.spec.to_dict(), building.judge(source))


def _without_tfmot(model, makers: list[str], config: CompressConfig, log):
    """(makers, config, tfmot usable): magnitude pruning and QAT need tensorflow-model-optimization,
    which cannot wrap a Keras 3 layer carried as it is; they are skipped with one line, the rest runs."""
    from ..models.keras3 import carried_layers

    carried = carried_layers(model)
    if not carried:
        return makers, config, True
    if "pruned" in makers or config.qat:
        log(f"      skipped: magnitude pruning and QAT (tensorflow-model-optimization cannot wrap the Keras 3 "
            f"layer(s) {', '.join(carried[:3])}{' ...' if len(carried) > 3 else ''}); everything else runs")
    return [m for m in makers if m != "pruned"], dataclasses.replace(config, qat=False), False


def compress(model_path: Path, config: CompressConfig, out: Path, force: bool = False,
             timer: Timer | None = None) -> CompressReport:
    """Runs the whole pipeline and returns the report (also written to OUT/report.json). `timer`
    times each format's deployable artifacts for the verdict (default: interleaved on this machine)."""
    from ..backend import set_seed
    from ..models.flops import model_flops, uncounted_layers

    model_path, out = Path(model_path), Path(out)
    check_compress_inputs(model_path, config.data.source if config.data else None, out, force, config.custom_objects)
    choice = choose_data(model_path, config.data)
    inputs = (model_path, choice.data.source, config.custom_objects)
    check_output_dir(out, force, inputs)
    set_seed(config.seed)
    makers = wanted_sources(config) if choice.judged_by_dice else []  # nothing trains on stand-in images
    run = Progress(config.verbose, 4 + len(makers))
    with run.step("load", f"loading {model_path}"):
        # a Keras 3 model stays Keras 3: the pruning makers and QAT rebuild it as tf_keras, lazily, once
        model, spec = load_model(model_path, config.normalize, config.unsafe, config.custom_objects,
                                 keep_keras3=True)
        task = task_for(spec)
        task.check_options(config)
        source_hash = sha256(model_path)
        train, val = load_task_splits(choice.data, spec)
        for line in [choice.summary(), *skipped_steps(config.prune, config.sparsity, config.qat, choice)]:
            run.log(f"      {line}")
        run.log(f"      input {spec.height}x{spec.width}x{spec.channels}, {spec.classes} class(es), "
                f"normalize {spec.normalize}; {len(train)} train / {len(val)} val images")
        makers, finetune_skipped = _trainable(makers, len(train), len(val), run)
        makers, config, tfmot_ok = _without_tfmot(model, makers, config, run.log)
        unlabeled = _unlabeled_batches(config, spec) if config.unlabeled else None
        calibration = calibration_images(train, config.calibration_samples, config.batch_size)
        more_calibration = functools.cache(lambda: calibration_images(train, 4 * config.calibration_samples,
                                                                config.batch_size))
    reference = memoized(keras_predictor(model, config.batch_size))
    with run.step("baseline", "baseline: float Keras model on the validation data"):
        # an instance model is judged by PQ, decoded with the spec's (or freshly tuned) settings
        step = task.baseline_step(reference, val, spec, config, choice.judged_by_dice, model, run.log)
        baseline, sanity, spec = step.baseline, step.sanity, step.spec
        baseline["flops"] = model_flops(model)
        if uncounted_layers(model):
            run.log(f"      FLOPs leave out {', '.join(uncounted_layers(model))}: unknown (a Keras 3 layer run as it is)")
        run.log("      " + sanity.message())
    problem = None if sanity.ok else sanity.message().removeprefix("float baseline failed the sanity check: ")
    budget = task.budget(baseline, config, problem, choice.judged_by_dice)
    metric, max_drop = budget.metric, budget.max_drop
    section = step.info and {**step.info, "ladder": list(LADDERS[task.name])}

    with atomic_output_dir(out, force, inputs) as tmp:
        run_inputs = RunInputs(config, spec, train, val, budget, run.log)
        recovery = Recovery(recovery_target(baseline[metric], max_drop),  # PQ for instance models
                            distill_kwargs(config, model, unlabeled))
        making = MakerInputs(run_inputs, Original(model, reference, baseline["flops"]), recovery, tmp,
                             StudyInputs(calibration, out, source_hash, model_path, choice.data))
        sources, study = [base_source(model, reference, baseline[metric], baseline["flops"], choice.judged_by_dice,
                                      task.name)], None
        for name in makers:
            _, title, make = MAKERS[name]
            with run.step(name, title):
                made = make(making)
            sources += [made.source] if made.source is not None else []
            study = made.study if made.study is not None else study
        targets = plan(config if choice.judged_by_dice else dataclasses.replace(config, qat=False), sources)
        run.log("the plan:\n" + "\n".join("      " + line for line in render_plan(targets).splitlines()))
        building = BuildInputs(tmp, config, val, spec.to_dict(), budget, {s.name: s for s in sources}, run.log)
        quantizers = {s.name: _quantizer(s, calibration, more_calibration, run_inputs, recovery, building,
                                         trains=choice.judged_by_dice and tfmot_ok) for s in sources}
        with run.step("artifacts", f"building {len(targets)} artifacts, each verified in its runtime"):
            records, edgetpu = build_all(targets, building, quantizers)
        with run.step("speed", "timing the deployable artifacts of each format on their runtime, interleaved"):
            timer = timer or InterleavedTimer(val.batch([0])[0].astype("float32"), config.target)
            records = time_deployable(records, tmp, timer, run.log)
        report = _report(model_path, source_hash, config, choice, spec, baseline, sanity, sources, targets,
                         records, edgetpu, run.timings, finetune_skipped=finetune_skipped,
                         study=study,
                         instance=section)  # the task's own section (instance: decoding, PQ budget); None otherwise
        if sha256(model_path) != source_hash:
            raise RuntimeError(f"{model_path} changed during compress")  # never expected: a bug
        write_reports(report, tmp)
    run.log("")
    run.log(render_terminal(report))
    run.log(f"\nwrote {out}/ (report.json, report.md)")
    run.log(render_verdict(report, out))
    return report


def _as_written(value):
    """`value` as report.json will hold it (tuples as lists), so the report compress returns
    equals the one every consumer reads back."""
    return json.loads(json.dumps(value))


def _section(record_type, raw: dict | None, where: str):
    """A step's dict (sources.py, edgetpu_step.py, instance.py, sanity.py) as its typed section."""
    return None if raw is None else typed.from_dict(record_type, _as_written(raw), f"report.json {where}")


def _report(model_path: Path, source_hash: str, config: CompressConfig, choice: DataChoice, spec, baseline: dict,
            sanity: BaselineCheck, sources: list[Source], targets, records: list[ArtifactRecord],
            edgetpu: dict | None, timings: dict, finetune_skipped: str | None,
            study: StudyRecord | None, instance: dict | None) -> CompressReport:
    """The typed report, built once from typed parts."""
    info = {s.name: s.info for s in sources}
    artifacts = [_section(ArtifactRecord, r.to_dict(), f"artifacts[{n}]") for n, r in enumerate(records)]
    typed_baseline = _section(Baseline, baseline, "baseline")
    return CompressReport(
        schema=SCHEMA, model=str(model_path), model_sha256=source_hash, data=choice.data.source,
        spec=_as_written(spec.to_dict()), config=config, baseline=typed_baseline, artifacts=artifacts,
        timings=dict(timings), pruning=_section(PruningRecord, info.get("pruned"), "pruning"),
        channels=_section(ChannelsRecord, info.get("channels"), "channels"),
        edgetpu=_section(EdgeTpuRecord, edgetpu, "edgetpu"),
        plan=[_section(PlanRow, dataclasses.asdict(t), f"plan[{n}]") for n, t in enumerate(targets)],
        data_origin=choice.origin, data_summary=choice.summary(), data_config=choice.data,
        skipped=skipped_steps(config.prune, config.sparsity, config.qat, choice),
        sanity=_section(SanityRecord, sanity.to_dict(), "sanity"),
        recommended=recommend(artifacts, typed_baseline, spec.task, choice.origin),
        study=study and _section(StudyRecord, study.to_dict(), "study"), finetune_skipped=finetune_skipped,
        instance=_section(InstanceRecord, instance, "instance"))
