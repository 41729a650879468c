"""COCO run-length encoding of binary masks in numpy, byte-identical to pycocotools'
compressed strings, so the device can emit and read COCO masks without pycocotools."""
from __future__ import annotations

import numpy as np


def rle_encode(mask: np.ndarray) -> dict:
    """A binary mask as COCO compressed RLE ({'size': [h, w], 'counts': str}), as
    pycocotools.mask.encode writes it: column-major runs starting with background."""
    mask = np.asarray(mask, bool)
    flat = mask.ravel(order="F")
    if flat.size == 0:
        return {"size": list(mask.shape), "counts": ""}
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate([[0], changes, [flat.size]])).tolist()
    if flat[0]:
        runs = [0] + runs
    return {"size": list(mask.shape), "counts": _runs_to_string(runs)}


def _runs_to_string(runs: list[int]) -> str:
    """COCO's LEB128-like text form (maskApi.c rleToString): each run after the second is
    stored as the difference from the run two before, 5 bits per character."""
    chars = []
    for i, run in enumerate(runs):
        x = run - runs[i - 2] if i > 2 else run
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            chars.append(chr(c + 48 + (0x20 if more else 0)))
    return "".join(chars)


def rle_decode(rle: dict) -> np.ndarray:
    """COCO RLE (compressed string or uncompressed list of counts) -> bool mask."""
    height, width = rle["size"]
    counts = rle["counts"]
    runs = _string_to_runs(counts.decode() if isinstance(counts, bytes) else counts) \
        if isinstance(counts, (str, bytes)) else list(counts)
    if sum(runs) != height * width:
        raise ValueError(f"RLE covers {sum(runs)} pixels, not {height}x{width}")
    values = np.arange(len(runs)) % 2 == 1
    return np.repeat(values, runs).reshape((height, width), order="F")


def _string_to_runs(text: str) -> list[int]:
    runs: list[int] = []
    p = 0
    while p < len(text):
        x = k = 0
        more = True
        while more:
            c = ord(text[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        runs.append(x)
    return runs
