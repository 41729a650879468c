"""Facts about any artifact file: its hash and its size after gzip."""
from __future__ import annotations

import gzip
import hashlib
from pathlib import Path


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def gzip_size(path: Path) -> int:
    """Bytes after gzip -9: what unstructured pruning's zeros are worth on the wire."""
    return len(gzip.compress(Path(path).read_bytes(), compresslevel=9))
