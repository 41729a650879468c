"""Builders for hostile inputs (crafted bundles, decompression bombs, Lambda configs) and a
snapshot of a folder tree with every file's sha256, shared by the adversarial tests."""
from __future__ import annotations

import hashlib
import json
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def tree(root: Path) -> dict[str, str]:
    """relative path -> sha256 (files), 'dir' (folders) or 'link -> target'; hidden entries included."""
    found = {}
    for path in sorted(Path(root).rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            found[key] = f"link -> {path.readlink()}"
        elif path.is_dir():
            found[key] = "dir"
        else:
            found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def bomb_png(path: Path, width: int = 100_000, height: int = 100_000) -> Path:
    """A tiny PNG whose header claims width x height pixels (what a decompression bomb does)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def image(path: Path, size: int = 24, mode: str = "L") -> Path:
    channels = {"L": (), "RGB": (3,), "RGBA": (4,)}[mode]
    pixels = (np.arange(size * size * max(1, int(np.prod(channels)))) % 251).astype(np.uint8)
    Image.fromarray(pixels.reshape(size, size, *channels)).save(path)
    return path


def manifest(model_file: str, data: bytes, **changes) -> dict:
    base = {"schema": "edgeseg.bundle/1",
            "model": {"file": model_file, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                      "format": "tflite", "precision": "int8"},
            "preprocessing": {"height": 32, "width": 32, "channels": 1, "normalize": "0-1", "threshold": 0.5,
                              "classes": 1}}
    base.update(changes)
    return base


def crafted_bundle(path: Path, entries: list[tuple[str, bytes]], symlink: str | None = None) -> Path:
    """A zip with exactly these (name, bytes) entries, names kept verbatim (zipfile keeps '/' and '..')."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (0o120777 << 16)
            archive.writestr(info, "/etc/passwd")
    return path


def bundle_with_model_name(path: Path, model_file: str, data: bytes = b"not really a model") -> Path:
    return crafted_bundle(path, [("manifest.json", json.dumps(manifest(model_file, data)).encode()),
                                 (model_file, data)])


def keras_archive(path: Path, config: dict | str, version: str = "2.15.0") -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": version}))
        archive.writestr("config.json", config if isinstance(config, str) else json.dumps(config))
        archive.writestr("model.weights.h5", b"")
    return path


def h5_model(path: Path, config: dict | None, version: str = "2.15.0") -> Path:
    import h5py

    with h5py.File(path, "w") as h5:
        if config is not None:
            h5.attrs["model_config"] = json.dumps(config)
        h5.attrs["keras_version"] = version
    return path


def functional_config(layers: list[dict], inputs=(("input_1", 0, 0),)) -> dict:
    return {"class_name": "Functional", "config": {"name": "m", "layers": layers,
                                                   "input_layers": [list(i) for i in inputs],
                                                   "output_layers": [[layers[-1]["name"], 0, 0]]}}


def input_layer(name: str = "input_1", shape=(None, 32, 32, 1)) -> dict:
    return {"class_name": "InputLayer", "name": name, "config": {"batch_input_shape": list(shape), "name": name},
            "inbound_nodes": []}


def lambda_layer(name: str = "evil") -> dict:
    return {"class_name": "Lambda", "name": name,
            "config": {"name": name, "function": ["4wEAAAAAAAAA", None, None], "function_type": "lambda"},
            "inbound_nodes": [[["input_1", 0, 0, {}]]]}
