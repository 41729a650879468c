"""The quantization methods as a registry, cheapest first. The accuracy guard walks the
methods a target admits (a filter on format and training, never an index) until one keeps
the Dice budget.

Each method has one build function per format it supports; a build function takes the
source's Quantizer and whether the artifact has integer input/output, and returns the
artifact's bytes.

TFLite int8 is made by litert-quantizer (quantize/litert_quantizer.py); the converter's
post-training quantization stays only for the methods CONVERTER_REASONS names, each with why."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

Build = Callable[["Quantizer", bool], bytes]
FLOAT_HEAD_NOTE = ("the last convolution and its activation run in float: not Edge TPU-complete (the Edge TPU "
                   "maps only the integer ops before it)")


@dataclass(frozen=True)
class ArtifactJudge:
    """How the mixed-precision rung scores its own candidates: (format, artifact bytes) -> the
    budget's score on the validation data, and the floor that score must reach."""

    score: Callable[[str, bytes], float]
    floor: float


class Quantizer:
    """One float model's quantization inputs, with what is expensive made once and shared
    between its artifacts: the calibration, the sensitive-layer list, the QAT model and the
    float ONNX file. `judge` is None where nothing may be scored on the validation masks (the
    mixed rung then fails, recorded, and the next rung is tried)."""

    def __init__(self, model, calibration: np.ndarray, more_calibration: Callable[[], np.ndarray],
                 make_qat_model: Callable[[], object] | None = None,
                 onnx_float: Callable[[], Path] | None = None, spec: dict | None = None,
                 judge: ArtifactJudge | None = None):
        self.model = model
        self.calibration = calibration
        self._more_calibration = more_calibration
        self.make_qat_model = make_qat_model
        self.onnx_float = onnx_float
        self.spec = spec
        self._denylist: tuple[str, ...] | None = None
        self._qat_model = None
        self._calibrated: dict[str, bytes] = {}
        self._float_tflite: bytes | None = None
        self.judge = judge
        self._sensitivity: dict | None = None
        self.repairs: dict[str, dict] = {}  # format -> the mixed rung's choice (layers in float, MAC share)

    @property
    def more_calibration(self) -> np.ndarray:
        """Decoded only when plain calibration missed the budget; the caller's callable caches it."""
        return self._more_calibration()

    def images(self, method: str) -> np.ndarray:
        return self.calibration if method == "ptq" else self.more_calibration

    def denylist(self) -> tuple[str, ...]:
        from .tflite_int8 import sensitive_layers

        if self._denylist is None:
            layers = sum(1 for layer in self.model.layers if layer.weights)
            self._denylist = tuple(sensitive_layers(self.model, self.calibration, max(1, layers // 5)))
        return self._denylist

    def qat_model(self):
        if self._qat_model is None:
            self._qat_model = self.make_qat_model()
        return self._qat_model

    def float_tflite(self) -> bytes:
        """The float .tflite file litert-quantizer quantizes, converted once."""
        from ..export.tflite import convert_float32

        if self._float_tflite is None:
            self._float_tflite = convert_float32(self.model)
        return self._float_tflite

    def calibrated(self, method: str) -> bytes:
        from .tflite_int8 import calibrate

        if method not in self._calibrated:
            self._calibrated[method] = calibrate(self.model, self.images(method))
        return self._calibrated[method]

    def sensitivity(self, measure_dice: bool = True) -> dict:
        """The layer groups, their int8 error and (with a scorer) the Dice each costs, computed once
        on the shared calibration (see quantize/sensitivity.py)."""
        from .sensitivity import dice_sensitivity, layer_errors, layer_groups, nodes_of, rank
        from .tflite_int8 import quantize_calibrated

        if self._sensitivity is None:
            calibrated = self.calibrated("ptq")
            groups = layer_groups(self.model, calibrated)
            self._sensitivity = {"groups": groups, "errors": layer_errors(calibrated, self.calibration, groups),
                                 "dice": None}
        info = self._sensitivity
        if measure_dice and info["dice"] is None and self.judge is not None:
            calibrated = self.calibrated("ptq")

            def score_float(nodes):
                return self.judge.score("tflite", quantize_calibrated(calibrated, True, tuple(nodes)))

            info["full_int8"] = score_float(())
            info["all_float"], info["dice"] = dice_sensitivity(info["groups"], score_float)
        info["ranked"] = rank(info["groups"], info["dice"], info["errors"])
        info["nodes"] = lambda names: nodes_of(info["groups"], names)
        return info

    def mixed(self, fmt: str, build: Callable[[tuple[str, ...]], bytes]) -> tuple[str, ...]:
        """The layers the mixed rung keeps in float for `fmt`: the worst by measured Dice cost, one
        at a time, until the budget's floor holds (at most half the layer groups), then each tried back in
        int8, the most MACs first (sensitivity.choose_float_layers). Chosen once per
        format; an artifact that follows (float I/O) reuses the choice."""
        from .sensitivity import choose_float_layers, int8_mac_share

        if fmt not in self.repairs:
            if self.judge is None:
                raise ValueError("the mixed-precision rung needs the validation scorer")
            info = self.sensitivity()
            choice = choose_float_layers(info["ranked"], lambda names: self.judge.score(fmt, build(names)),
                                         self.judge.floor, limit=max(1, len(info["groups"]) // 2),
                                         macs={g.name: g.macs for g in info["groups"]})
            self.repairs[fmt] = {"float_layers": list(choice.float_layers), "met": choice.met,
                                 "score": choice.score, "int8_mac_share": int8_mac_share(info["groups"],
                                                                                         choice.float_layers),
                                 "trail": choice.trail, "ranked_by": "dice" if info["dice"] else "error"}
        return tuple(self.repairs[fmt]["float_layers"])

    def converter(self, method: str, integer_io: bool) -> Callable[[], bytes]:
        """The TFLite build of `method`, deferred."""
        build = REGISTRY[method].builds["tflite"]
        return lambda: build(self, integer_io)


def _tflite_litert(method: str, ranges: str = "min-max") -> Build:
    """Static int8 by litert-quantizer, calibrated on `method`'s images."""
    def build(q: Quantizer, integer_io: bool) -> bytes:
        from .litert_quantizer import quantize_int8

        return quantize_int8(q.float_tflite(), q.images(method), integer_io, ranges)

    return build


def _tflite_int16x8(q: Quantizer, integer_io: bool) -> bytes:
    from .tflite_int8 import QuantSpec, convert_integer

    return convert_integer(q.model, q.more_calibration, QuantSpec(activations="int16", integer_io=integer_io))


def _tflite_float_fallback(q: Quantizer, integer_io: bool) -> bytes:
    from .tflite_int8 import QuantSpec, convert_integer

    return convert_integer(q.model, q.more_calibration, QuantSpec(integer_io=integer_io, denylisted_nodes=q.denylist()))


def _tflite_qat(q: Quantizer, integer_io: bool) -> bytes:
    from .tflite_int8 import QuantSpec, convert_integer

    return convert_integer(q.qat_model(), q.calibration, QuantSpec(integer_io=integer_io))


def _tflite_float_head(q: Quantizer, integer_io: bool) -> bytes:
    from .tflite_int8 import head_nodes, quantize_calibrated

    calibrated = q.calibrated("ptq")
    return quantize_calibrated(calibrated, integer_io, head_nodes(calibrated))


def _tflite_float_ends(q: Quantizer, integer_io: bool) -> bytes:
    from .tflite_int8 import first_conv_nodes, head_nodes, quantize_calibrated

    calibrated = q.calibrated("ptq")
    return quantize_calibrated(calibrated, integer_io, tuple(dict.fromkeys(first_conv_nodes(calibrated) +
                                                                           head_nodes(calibrated))))


def _tflite_mixed(q: Quantizer, integer_io: bool) -> bytes:
    from .tflite_int8 import quantize_calibrated

    calibrated = q.calibrated("ptq")

    def build(names, io=True):
        return quantize_calibrated(calibrated, io, q.sensitivity(measure_dice=False)["nodes"](names))

    return build(q.mixed("tflite", build), integer_io)


def _onnx_int8_bytes(q: Quantizer, tag: str, images: np.ndarray, **options) -> bytes:
    """An int8 ONNX of the source's float ONNX (quantize_onnx_int8 with `options`), as bytes: the
    candidate file beside it is removed whatever happens."""
    from .onnx_int8 import quantize_onnx_int8

    float_path = q.onnx_float()
    target = float_path.with_name(f".{float_path.stem}.{tag}.int8_candidate.onnx")
    try:
        quantize_onnx_int8(float_path, target, images, q.spec, **options)
        return target.read_bytes()
    finally:
        target.unlink(missing_ok=True)


def _onnx_mixed(q: Quantizer, integer_io: bool) -> bytes:
    """The TFLite-measured ranking (the same Keras layers) applied to the ONNX graph through
    nodes_to_exclude; each step is scored in onnxruntime."""
    from ..models.keras3 import is_keras3
    from .sensitivity import onnx_nodes

    def build(names):
        return _onnx_int8_bytes(q, "mixed", q.calibration, exclude=onnx_nodes(q.onnx_float(), names,
                                                                               is_keras3(q.model)))

    return build(q.mixed("onnx", build))


def _onnx_calibration(calibration: str) -> Build:
    """ONNX int8 with another of onnxruntime's calibration methods (TFLite's converter has MinMax only)."""
    def build(q: Quantizer, integer_io: bool) -> bytes:
        return _onnx_int8_bytes(q, calibration, q.calibration, calibration_method=calibration)

    return build


def _onnx_qdq(method: str, float_head: bool = False) -> Build:
    def build(q: Quantizer, integer_io: bool) -> bytes:
        return _onnx_int8_bytes(q, f"{method}{'.head' * float_head}", q.images("ptq" if float_head else method),
                                float_head=float_head)

    return build


@dataclass(frozen=True)
class Method:
    name: str
    precision: str  # what the artifact's row reports
    builds: dict[str, Build]  # format -> build function
    trains: bool = False  # needs a training run (QAT), so it is the last resort
    retunes: bool = False  # the decoding settings are re-tuned for the artifact and stored in it (instance)
    note: str = ""  # what its artifact record must say (a float head is not Edge TPU-complete)
    explained: bool = True  # its int8 artifact gets the where-int8-hurts section

    @property
    def formats(self) -> tuple[str, ...]:
        return tuple(self.builds)


METHODS: tuple[Method, ...] = (
    Method("ptq", "int8", {"tflite": _tflite_litert("ptq"), "onnx": _onnx_qdq("ptq")}),
    Method("more-calibration", "int8", {"tflite": _tflite_litert("more-calibration"),
                                        "onnx": _onnx_qdq("more-calibration")}),
    # onnxruntime's other calibrations: the range clipped at a percentile, or chosen by KL divergence.
    Method("percentile", "int8", {"onnx": _onnx_calibration("Percentile")}),
    Method("entropy", "int8", {"onnx": _onnx_calibration("Entropy")}),
    # The fewest layers kept in float that meet the budget, worst by measured Dice cost first.
    Method("mixed", "int8+float", {"tflite": _tflite_mixed, "onnx": _onnx_mixed},
           note="the layers kept in float run on the CPU: not Edge TPU-complete"),
    Method("int16x8", "int16x8", {"tflite": _tflite_int16x8}),
    # Not a remedy but a speed option (--prune auto): the first and last convolutions in float, where
    # int8 kernels pay a per-pixel floor; the verdict keeps it only if it is measured faster.
    Method("float-ends", "int8+float", {"tflite": _tflite_float_ends},
           note="the first and last convolutions run in float on the CPU: not Edge TPU-complete",
           explained=False),  # a speed option: its int8 layers are ptq's, explained on model_int8.tflite
    Method("float-fallback", "int8+float", {"tflite": _tflite_float_fallback}),
    Method("qat", "int8", {"tflite": _tflite_qat}, trains=True),
    # Instance models: the last 1x1 convolution (and its sigmoid) kept in float.
    Method("float-head", "int8+float", {"tflite": _tflite_float_head, "onnx": _onnx_qdq("ptq", float_head=True)},
           note=FLOAT_HEAD_NOTE),
    # The plain int8 artifact with the decoding thresholds re-tuned for it on the validation data
    # (still fully integer), then the same on the float-head artifact.
    Method("retuned-decoding", "int8", {"tflite": _tflite_litert("ptq"), "onnx": _onnx_qdq("ptq")},
           retunes=True),
    Method("float-head-retuned", "int8+float",
           {"tflite": _tflite_float_head, "onnx": _onnx_qdq("ptq", float_head=True)}, retunes=True,
           note=FLOAT_HEAD_NOTE),
)
REGISTRY: dict[str, Method] = {m.name: m for m in METHODS}
PRECISION = {m.name: m.precision for m in METHODS}

_DENYLIST = "it keeps layers in float by the converter's denylist on its calibrated model"
# The TFLite methods the converter still makes, and why (benchmarks/results/lq_engine.md, explain.md);
# litert-quantizer makes every other TFLite one.
CONVERTER_REASONS: dict[str, str] = {
    "mixed": _DENYLIST + " (litert-quantizer's selective recipes measured worse: Dice 0.7219 against 0.7339)",
    "float-fallback": _DENYLIST + " (QuantizationDebugger's sensitive layers)",
    "float-head": _DENYLIST,
    "float-head-retuned": _DENYLIST,
    "float-ends": _DENYLIST,
    "int16x8": "litert-quantizer's int16 activations ran 10x slower on LiteRT CPU",
    "qat": "a QAT model's fake-quantization ranges are read by the converter only",
}


def tflite_engine(method: str) -> dict:
    """What made a TFLite `method`'s artifact, for its record: {"engine": ..., "engine_reason": ...}."""
    if method in CONVERTER_REASONS:
        return {"engine": "tflite-converter", "engine_reason": CONVERTER_REASONS[method]}
    from .litert_quantizer import engine_label

    return {"engine": engine_label()}


# The guard's remedy ladder per model task, cheapest first: each method is tried only when the
# previous ones missed the budget. Instance models are judged by PQ (scoring/budget.py).
LADDERS: dict[str, tuple[str, ...]] = {
    "semantic": ("ptq", "more-calibration", "percentile", "entropy", "mixed", "int16x8", "float-fallback", "qat"),
    "instance": ("ptq", "float-head", "retuned-decoding", "float-head-retuned", "qat"),
}


def methods_for(fmt: str, *, training: bool, cheapest_only: bool = False, task: str = "semantic",
                real_masks: bool = True) -> tuple[str, ...]:
    """The method names a `fmt` artifact of a `task` model may try, cheapest first. Without
    real masks nothing is tuned on them: no QAT (`training`), no re-tuned decoding."""
    names = tuple(n for n in LADDERS[task] if fmt in REGISTRY[n].builds and (training or not REGISTRY[n].trains)
                  and (real_masks or not REGISTRY[n].retunes))
    return names[:1] if cheapest_only else names
