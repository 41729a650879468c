"""Reading a deploy bundle that may come from anywhere.

A bundle is trusted for nothing until checked: every entry name is validated (flat names
only, no absolute paths, no '..', no links or folders, no duplicates, only the expected
entries), every entry is read with a size cap (the zip's declared sizes can lie), and the
manifest is type-checked. Nothing is extracted by a name the bundle chose."""
from __future__ import annotations

import re
import stat
import zipfile
from pathlib import Path

from ..errors import ModelError

MANIFEST = "manifest.json"
README = "README.txt"
MODEL_SUFFIXES = (".tflite", ".onnx")
CAPS = {MANIFEST: 1 * 2**20, README: 64 * 2**10}  # bytes
MAX_MODEL_BYTES = 256 * 2**20  # 256 MiB: the seed U-Net is 7.7 MB in float32; edge models are far smaller
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _refuse(path: Path, why: str) -> ModelError:
    return ModelError(f"{path} is not a safe edgeseg bundle: {why}; refusing to open it")


def safe_model_name(name: object) -> bool:
    """A plain file name such as model_int8.tflite: no folders, no drive, no '..', no control characters."""
    return (isinstance(name, str) and 0 < len(name) <= 255 and name not in (".", "..")
            and not any(c in name for c in "/\\:\0") and name.isprintable()
            and name.lower().endswith(MODEL_SUFFIXES))


def check_entries(archive: zipfile.ZipFile, path: Path) -> dict[str, zipfile.ZipInfo]:
    """name -> ZipInfo after every structural check; the model entry is checked by model_entry."""
    infos = archive.infolist()
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        raise _refuse(path, "it holds two entries with the same name")
    if len(infos) > 3:
        raise _refuse(path, f"it holds {len(infos)} entries; a bundle has manifest.json, README.txt and the model")
    for info in infos:
        if not info.filename:
            raise _refuse(path, "an entry has an empty name")
        if info.is_dir() or stat.S_ISLNK(info.external_attr >> 16):
            raise _refuse(path, f"entry {info.filename!r} is a folder or a link")
        if info.filename not in (MANIFEST, README) and not safe_model_name(info.filename):
            raise _refuse(path, f"unexpected entry {info.filename!r}")
    if MANIFEST not in names:
        raise _refuse(path, "it has no manifest.json")
    if sum(i.file_size for i in infos) > MAX_MODEL_BYTES + sum(CAPS.values()):
        raise _refuse(path, f"its entries add up to more than {MAX_MODEL_BYTES:,} bytes")
    return dict(zip(names, infos))


def read_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, path: Path) -> bytes:
    """An entry's bytes, never more than `cap` read into memory, whatever the header claims."""
    if info.file_size > cap:
        raise _refuse(path, f"{info.filename} is {info.file_size:,} bytes, over the limit of {cap:,}")
    chunks, total = [], 0
    with archive.open(info) as handle:
        while chunk := handle.read(min(2**20, cap + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > cap:
                raise _refuse(path, f"{info.filename} unpacks to more than its limit of {cap:,} bytes")
    return b"".join(chunks)


def check_manifest(manifest: object, path: Path) -> dict:
    """The fields predict relies on, with the right types."""
    if not isinstance(manifest, dict):
        raise _refuse(path, "manifest.json is not a JSON object")
    model = manifest.get("model")
    if not isinstance(model, dict):
        raise _refuse(path, "the manifest has no model object")
    if not safe_model_name(model.get("file")):
        raise _refuse(path, f"the manifest names the model file {model.get('file')!r}; expected a plain "
                            f"name ending in {' or '.join(MODEL_SUFFIXES)}")
    if not isinstance(model.get("sha256"), str) or not _SHA256.match(model["sha256"]):
        raise _refuse(path, "the manifest's model sha256 is not 64 hexadecimal digits")
    if not isinstance(manifest.get("preprocessing"), dict):
        raise _refuse(path, "the manifest has no preprocessing object")
    return manifest


def model_entry(entries: dict[str, zipfile.ZipInfo], manifest: dict, path: Path) -> zipfile.ZipInfo:
    name = manifest["model"]["file"]
    extra = set(entries) - {MANIFEST, README, name}
    if extra:
        raise _refuse(path, f"unexpected entry {sorted(extra)[0]!r}")
    if name not in entries:
        raise _refuse(path, f"the model {name!r} named in the manifest is missing")
    return entries[name]
