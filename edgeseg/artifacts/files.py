"""Facts about any artifact file: its hash and its size after gzip."""
from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

from ..errors import UsageError


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def gzip_size(path: Path) -> int:
    """Bytes after gzip -9: what unstructured pruning's zeros are worth on the wire."""
    return len(gzip.compress(Path(path).read_bytes(), compresslevel=9))


def inside(folder: Path, relative: str) -> Path:
    """folder/relative, refused unless it resolves (links followed) to a file inside folder."""
    root = Path(folder).resolve()
    target = (root / relative).resolve()
    if root not in target.parents:
        raise UsageError(f"{relative!r} lies outside the compress folder {folder}; refusing to bundle it")
    return target
