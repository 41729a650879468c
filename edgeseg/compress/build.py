"""Building one target: convert or quantize, verify in the runtime that will run it, and
judge it against the budget. `build` dispatches on the target's format and kind; `build_all`
builds the plan in order, handing each target the methods that won the targets it follows."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from ..artifacts import typed
from ..artifacts.artifact_records import Attempt, ExplainRecord
from ..artifacts.compress_report import ArtifactRecord
from ..artifacts.files import gzip_size
from ..config import CompressConfig
from ..data.dataset import SegmentationData
from ..quantize.methods import PRECISION, REGISTRY, ArtifactJudge, Quantizer, tflite_engine
from ..scoring.budget import Budget
from ..scoring.task import Task, task_for
from ..scoring.verify import Verified
from .guard import Guarded, guard
from .plan import Target
from .sources import Source


@dataclass(frozen=True)
class BuildInputs:
    """What every target is built from and judged by; `out` is where the artifacts are written."""

    out: Path
    config: CompressConfig
    val: SegmentationData
    spec: dict
    budget: Budget
    sources: Mapping[str, Source]
    log: Callable[[str], None] = print

    @property
    def task(self) -> Task:
        return task_for(self.spec)

    def score(self, source: Source, held_out: bool = False) -> Callable[[Path], Verified]:
        """The scorer of `source`'s artifacts, the task's. `held_out`: the artifact's decoding was
        re-tuned on self.val (as _retuned does), so its cross-fitted held-out score decides. Every
        artifact is also judged against the user's original model (the base source), not only its own."""
        original = self.sources["base"].reference if "base" in self.sources else None
        return self.task.verifier(self.val, source.reference, self.spec, self.config.batch_size, held_out, original)

    def onnx_float(self, source: Source) -> Path:
        """The source's float ONNX file, exported once and shared with its int8 target."""
        from ..export.onnx import export_onnx

        path = self.out / f"{source.prefix}.onnx"
        if not path.is_file():
            export_onnx(source.model, path, self.config.onnx_opset, self.spec)
        return path

    def judge(self, source: Source) -> ArtifactJudge | None:
        """How the mixed-precision rung scores its own steps: on the validation masks, so only
        real ones (else None: the rung fails, recorded, and the next rung is tried)."""
        if not (self.task.explains_int8 and self.budget.judged_by_dice):
            return None
        from .explain import artifact_scorer

        return ArtifactJudge(artifact_scorer(self, source), self.budget.floor)


@dataclass(frozen=True)
class Built:
    """One target's result: its record (None when nothing could be made), the method that made
    it, and the Edge TPU step's report.json section."""

    record: ArtifactRecord | None
    method: str | None = None
    edgetpu: dict | None = None


def _sparsity(fmt: str, path: Path) -> float | None:
    """Read from the file itself: the zeros that reach the device."""
    from ..artifacts import onnx, tflite

    if fmt == "onnx":
        return onnx.kernel_sparsity(path)
    return tflite.kernel_sparsity(path.read_bytes())


def _record(ctx: BuildInputs, target: Target, path: Path, verified: Verified | None,
            g: Guarded | None = None, unverified: str | None = None) -> ArtifactRecord:
    source = ctx.sources[target.source]
    scores = verified.scores if verified else {}
    sparsity = _sparsity(target.format, path)
    method = g.method if g else None
    deployable, reason = ctx.budget.judge(
        scores, method=method, tried=tuple(a.method for a in g.attempts) if g else (),
        source_label=source.label or None, source_dice=source.dice, source_fix=source.fix,
        sparsity=sparsity, target_sparsity=source.target_sparsity, unverified=unverified)
    data = path.read_bytes()
    return ArtifactRecord(
        path=str(path.relative_to(ctx.out)), format=target.format, precision=PRECISION.get(method, target.precision),
        bytes=len(data), deployable=deployable, reason=reason, dice=scores.get("dice"), iou=scores.get("iou"),
        gzip_bytes=gzip_size(path), sparsity=sparsity, flops=source.flops, max_abs_diff=scores.get("max_abs_diff"),
        runtime=verified.runtime if verified else None, method=method, source=source.name, io=target.io,
        sha256=hashlib.sha256(data).hexdigest(), pq=scores.get("pq"), f1=scores.get("f1"),
        agreement_pq=scores.get("agreement_pq"), pq_held_out=scores.get("pq_held_out"),
        f1_held_out=scores.get("f1_held_out"),
        decided_by=ctx.task.decided_by(ctx.budget, scores), dice_per_image=scores.get("dice_per_image"),
        mask_agreement=scores.get("mask_agreement"), mean_abs_diff=scores.get("mean_abs_diff"),
        load_seconds=round(verified.load_seconds, 3) if verified else None,
        dice_per_class=scores.get("dice_per_class"), reference=source.keras_file or None,
        opset=ctx.config.onnx_opset if target.format == "onnx" else None,
        attempts=None if g is None else [_typed(Attempt, a.to_dict(), "attempt") for a in g.attempts],
        extra=ctx.task.artifact_extra(scores, REGISTRY[method].note if method in REGISTRY else "")
        | (tflite_engine(method) if target.format == "tflite" and method in REGISTRY else {}))


def _typed(record_type, raw: dict, where: str):
    """A step's dict as its typed record, read as report.json will hold it (tuples as lists)."""
    return typed.from_dict(record_type, json.loads(json.dumps(raw)), where)


def _finalize(ctx: BuildInputs, target: Target, data: bytes) -> bytes:
    from ..artifacts.tflite import finalize

    return finalize(data, ctx.spec) if target.format == "tflite" else data


def _build_float(ctx: BuildInputs, target: Target) -> Built:
    source = ctx.sources[target.source]
    if target.format == "onnx":
        path = ctx.onnx_float(source)
    else:
        from ..export.tflite import FLOAT_CONVERTERS

        path = ctx.out / target.filename
        path.write_bytes(_finalize(ctx, target, FLOAT_CONVERTERS[target.precision](source.model)))
    return Built(_record(ctx, target, path, ctx.score(source)(path)))


def _candidate(ctx: BuildInputs, target: Target, method: str, quantizer: Quantizer, integer_io: bool) -> bytes:
    data = _finalize(ctx, target, REGISTRY[method].builds[target.format](quantizer, integer_io))
    return _retuned(ctx, target, data) if REGISTRY[method].retunes else data


def _retuned(ctx: BuildInputs, target: Target, data: bytes) -> bytes:
    """`data` with the decoding settings re-tuned on its own outputs stored in its spec, so the
    device decodes it exactly as it is then verified."""
    from ..artifacts.spec_store import store_spec

    probe = ctx.out / f".{Path(target.filename).stem}.retune{Path(target.filename).suffix}"
    try:
        probe.write_bytes(data)
        spec, tuning = ctx.task.retune(probe, ctx.val, ctx.spec, ctx.config.batch_size)
    finally:
        probe.unlink(missing_ok=True)
    ctx.log(f"      decoding re-tuned for {target.filename}: {tuning['settings']}")
    return store_spec(data, target.format, spec)


def _build_quantized(ctx: BuildInputs, target: Target, quantizer: Quantizer, winners: Mapping[str, str]) -> Built:
    source = ctx.sources[target.source]
    methods = target.methods
    if target.follows:
        if target.follows not in winners:
            return Built(None)  # every method failed for the artifact it follows
        methods = (winners[target.follows],)
    if ctx.budget.baseline_problem is not None:
        methods = methods[:1]  # no method can ship against a failed baseline: convert once, say why
    integer_io = target.io == "int8"
    candidates = [(m, lambda m=m: _candidate(ctx, target, m, quantizer, integer_io)) for m in methods]
    retuned = {m: ctx.score(source, held_out=True) for m in methods if REGISTRY[m].retunes}
    g = guard(candidates, ctx.out / target.filename, ctx.score(source), ctx.budget, ctx.log, retuned)
    if g.path is None:
        return Built(None)
    record = _record(ctx, target, g.path, g.verified, g)
    if (ctx.task.explains_int8 and (target.format == "onnx" or target.io == "int8")  # one section per format
            and REGISTRY[g.method].explained):
        from .explain import explain_artifact

        section = explain_artifact(ctx, target, record, quantizer, g.verified.session if g.verified else None)
        # a new record with its explain section, never the built one patched
        record = dataclasses.replace(record, explain=_typed(ExplainRecord, section, f"{record.path} explain"))
    return Built(record, g.method)


def _build_edgetpu(ctx: BuildInputs, target: Target, winners: Mapping[str, str]) -> Built:
    from .edgetpu_step import edgetpu_step

    int8 = ctx.out / target.follows
    if target.follows not in winners or not int8.is_file():
        return Built(None)
    source = ctx.sources[target.source]
    # A re-tuned winner's compiled copy is judged held-out too. Its cross-fit re-tunes on the Edge TPU's own
    # outputs, while the file ships the settings re-tuned on the CPU int8 outputs: close, not the same procedure.
    retuned = REGISTRY[winners[target.follows]].retunes
    facts = edgetpu_step(int8, ctx.config.edgetpu_runtime, ctx.score(source, held_out=retuned), ctx.log)
    if facts.compiled is None:
        return Built(None, edgetpu=facts.summary)
    return Built(_record(ctx, target, facts.compiled, facts.verified,
                         unverified=facts.unverified if facts.verified is None else None), edgetpu=facts.summary)


def build(target: Target, ctx: BuildInputs, quantizers: Mapping[str, Quantizer],
          winners: Mapping[str, str]) -> Built:
    """Makes one artifact in ctx.out; its record is None when nothing could be made (the reason
    was logged). `winners`: file name -> the method that made it, for the targets that follow one."""
    if target.format == "edgetpu":
        built = _build_edgetpu(ctx, target, winners)
    elif target.methods or target.follows:
        built = _build_quantized(ctx, target, quantizers[target.source], winners)
    else:
        built = _build_float(ctx, target)
    record = built.record
    if record is not None and record.pq is not None:
        held_out = (f" (held-out PQ {record.pq_held_out:.4f} decided)"
                    if record.decided_by == "pq_held_out" and record.pq_held_out is not None else "")
        ctx.log(f"      {record.path}: PQ {record.pq:.4f}, F1@0.5 {record.f1:.4f}{held_out}"
                f"{'' if record.deployable else '  (not deployable)'}")
    elif record is not None and record.dice is not None:
        ctx.log(f"      {record.path}: Dice {record.dice:.4f}{'' if record.deployable else '  (not deployable)'}")
    return built


def build_all(targets, ctx: BuildInputs,
              quantizers: Mapping[str, Quantizer]) -> tuple[list[ArtifactRecord], dict | None]:
    """(the records of the targets that could be made, in plan order; the Edge TPU step's section)."""
    records, winners, edgetpu = [], {}, None
    for target in targets:
        built = build(target, ctx, quantizers, winners)
        if built.method is not None:
            winners[target.filename] = built.method
        if built.edgetpu is not None:
            edgetpu = built.edgetpu
        if built.record is not None:
            records.append(built.record)
    return records, edgetpu
