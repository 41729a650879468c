"""The int8 quantization methods, cheapest first, as (name, convert) pairs for the guard."""
from __future__ import annotations

from typing import Callable

import numpy as np

from .tflite_int8 import QuantSpec, calibrate, convert_integer, quantize_calibrated, sensitive_layers

METHODS = ("ptq", "more-calibration", "int16x8", "float-fallback", "qat")
PRECISION = {"ptq": "int8", "more-calibration": "int8", "int16x8": "int16x8",
             "float-fallback": "int8+float", "qat": "int8"}


class Remedies:
    """Builds each method's converter lazily and caches what is expensive to make
    (the sensitive-layer list, the QAT model) so the float-I/O variant can reuse it."""

    def __init__(self, model, calibration: np.ndarray, more_calibration: Callable[[], np.ndarray],
                 make_qat_model: Callable[[], object] | None):
        self.model = model
        self.calibration = calibration
        self._more_calibration = more_calibration
        self.make_qat_model = make_qat_model
        self._denylist: tuple[str, ...] | None = None
        self._qat_model = None
        self._calibrated: dict[str, bytes] = {}

    @property
    def more_calibration(self) -> np.ndarray:
        """Decoded only when plain calibration missed the budget; the caller's callable caches it."""
        return self._more_calibration()

    def denylist(self) -> tuple[str, ...]:
        if self._denylist is None:
            layers = sum(1 for layer in self.model.layers if layer.weights)
            self._denylist = tuple(sensitive_layers(self.model, self.calibration, max(1, layers // 5)))
        return self._denylist

    def qat_model(self):
        if self._qat_model is None:
            self._qat_model = self.make_qat_model()
        return self._qat_model

    def _calibrated_int8(self, method: str, integer_io: bool) -> bytes:
        if method not in self._calibrated:
            images = self.calibration if method == "ptq" else self.more_calibration
            self._calibrated[method] = calibrate(self.model, images)
        return quantize_calibrated(self._calibrated[method], integer_io)

    def converter(self, method: str, integer_io: bool) -> Callable[[], bytes]:
        if method in ("ptq", "more-calibration"):
            return lambda: self._calibrated_int8(method, integer_io)
        if method == "int16x8":
            return lambda: convert_integer(self.model, self.more_calibration,
                                           QuantSpec(activations="int16", integer_io=integer_io))
        if method == "float-fallback":
            return lambda: convert_integer(self.model, self.more_calibration,
                                           QuantSpec(integer_io=integer_io, denylisted_nodes=self.denylist()))
        if method == "qat":
            return lambda: convert_integer(self.qat_model(), self.calibration, QuantSpec(integer_io=integer_io))
        raise ValueError(f"unknown quantization method {method!r}")

    def chain(self, integer_io: bool = True, methods: tuple[str, ...] = METHODS) -> list[tuple[str, Callable[[], bytes]]]:
        available = [m for m in methods if m != "qat" or self.make_qat_model is not None]
        return [(m, self.converter(m, integer_io)) for m in available]
