"""LiteRT with the Edge TPU delegate (libedgetpu), for models compiled by edgetpu_compiler."""
from __future__ import annotations

from pathlib import Path

from ..errors import first_line
from .base import RuntimeUnavailable, module_available
from .litert import LiteRTSession

EDGETPU_LIBRARY = "libedgetpu.so.1"


def _delegate():
    import ctypes

    from ai_edge_litert.interpreter import load_delegate

    # Probing the library first gives a clean error: a failed load_delegate also prints an
    # ignored exception from the half-built Delegate's __del__.
    ctypes.CDLL(EDGETPU_LIBRARY)
    return load_delegate(EDGETPU_LIBRARY)


class LiteRTEdgeTPU:
    name = "litert-edgetpu"
    device = "tpu"
    formats = ("edgetpu",)

    def is_available(self) -> tuple[bool, str]:
        ok, reason = module_available("ai_edge_litert.interpreter", "ai-edge-litert")
        if not ok:
            return ok, reason
        try:
            _delegate()
        except (ValueError, OSError, RuntimeError) as exc:  # what load_delegate raises without the library or device
            return False, (f"no Edge TPU: {EDGETPU_LIBRARY} could not be loaded ({first_line(exc)[:160]}); "
                           "install libedgetpu and attach a Coral device")
        return True, f"{reason}, {EDGETPU_LIBRARY}"

    def load(self, path: Path, threads: int | None = None) -> LiteRTSession:
        try:
            delegate = _delegate()
        except (ValueError, OSError, RuntimeError) as exc:
            raise RuntimeUnavailable(f"{EDGETPU_LIBRARY} could not be loaded: {exc}") from None
        return LiteRTSession(path, threads, delegates=[delegate])
