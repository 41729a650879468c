"""The plan: which artifacts compress makes, as a table of targets a reader can check at a
glance ("does the channel-pruned model get ONNX int8?"). Every source gets every kind the
config asks for."""
from __future__ import annotations

from dataclasses import dataclass

from ..config import CompressConfig
from ..quantize.methods import methods_for
from .sources import Source


@dataclass(frozen=True)
class Kind:
    """One kind of artifact, made from any source."""

    format: str  # tflite | onnx | edgetpu
    precision: str
    io: str  # the input/output type: float | int8
    suffix: str  # appended to the source's prefix
    quantized: bool = False  # goes through the guard and the method registry
    only: tuple[str, ...] = ()  # the methods it is made with, when not every method the format has
    follows: str | None = None  # the kind whose winning method it reuses
    when: str | None = None  # the config flag that asks for it
    base_only: bool = False


KINDS: tuple[Kind, ...] = (
    Kind("tflite", "float32", "float", "_float32.tflite"),
    Kind("tflite", "float16", "float", "_float16.tflite"),
    Kind("tflite", "int8-weights", "float", "_dynamic_range.tflite"),
    Kind("tflite", "int8", "int8", "_int8.tflite", quantized=True),
    Kind("tflite", "int8", "float", "_int8_float_io.tflite", quantized=True, follows="_int8.tflite"),
    Kind("tflite", "int8", "int8", "_int8_qat.tflite", quantized=True, only=("qat",), when="qat"),
    Kind("tflite", "int8+float", "int8", "_int8_float_ends.tflite", quantized=True, only=("float-ends",),
         when="speed_candidates"),
    Kind("edgetpu", "int8", "int8", "_int8_edgetpu.tflite", follows="_int8.tflite", when="edgetpu",
         base_only=True),
    Kind("onnx", "float32", "float", ".onnx"),
    Kind("onnx", "int8", "float", "_int8.onnx", quantized=True),
)


@dataclass(frozen=True)
class Target:
    """One artifact to make."""

    source: str
    format: str
    precision: str
    io: str
    filename: str
    methods: tuple[str, ...] = ()
    follows: str | None = None  # file name of the target whose winning method this one reuses


def _filename(kind: Kind, source: Source) -> str:
    if kind.only == ("qat",) and source.preserve_sparsity:
        return f"{source.prefix}_int8_pqat.tflite"  # pruning-preserving QAT keeps the zeros
    return source.prefix + kind.suffix


def _methods(kind: Kind, source: Source) -> tuple[str, ...]:
    if not kind.quantized or kind.follows:
        return ()
    if kind.only:
        return kind.only
    return methods_for(kind.format, training=source.qat_remedy, cheapest_only=not source.within_budget,
                       task=source.task, real_masks=source.real_masks)


def _wanted(kind: Kind, source: Source, config: CompressConfig) -> bool:
    fmt = "tflite" if kind.format == "edgetpu" else kind.format
    return (fmt in config.formats and (kind.when is None or bool(getattr(config, kind.when)))
            and (source.name == "base" or not kind.base_only))


def plan(config: CompressConfig, sources: list[Source]) -> list[Target]:
    return [Target(s.name, k.format, k.precision, k.io, _filename(k, s), _methods(k, s),
                   s.prefix + k.follows if k.follows else None)
            for s in sources for k in KINDS if _wanted(k, s, config)]


def render_plan(targets: list[Target]) -> str:
    rows = [("source", "artifact", "format", "precision", "I/O", "methods")]
    rows += [(t.source, t.filename, t.format, t.precision, t.io,
              ", ".join(t.methods) or (f"as {t.follows}" if t.follows else "-")) for t in targets]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows)
