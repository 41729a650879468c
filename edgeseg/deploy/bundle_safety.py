"""Reading a deploy bundle that may come from anywhere.

A bundle is trusted for nothing until checked: every entry name is validated (flat names
only, no absolute paths, no '..', no links or folders, no duplicates, only the expected
entries), every entry is read with a size cap (the zip's declared sizes can lie), and the
manifest is type-checked. Nothing is extracted by a name the bundle chose."""
from __future__ import annotations

import stat
import zipfile
from pathlib import Path

from ..artifacts.manifest import BundleManifest, safe_model_name  # noqa: F401 - re-exported
from ..errors import DataError, ModelError

MANIFEST = "manifest.json"
README = "README.txt"
CAPS = {MANIFEST: 1 * 2**20, README: 64 * 2**10}  # bytes
MAX_MODEL_BYTES = 256 * 2**20  # 256 MiB: the seed U-Net is 7.7 MB in float32; edge models are far smaller


def _refuse(path: Path, why: str) -> ModelError:
    return ModelError(f"{path} is not a safe edgeseg bundle: {why}; refusing to open it")


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


def check_manifest(manifest: object, path: Path) -> BundleManifest:
    """The manifest through its one typed reader; any fault refuses the bundle."""
    try:
        return BundleManifest.from_dict(manifest, str(path))
    except DataError as exc:
        raise _refuse(path, str(exc).removeprefix(f"{path}: ")) from None


def model_entry(entries: dict[str, zipfile.ZipInfo], manifest: BundleManifest, path: Path) -> zipfile.ZipInfo:
    name = manifest.model.file
    extra = set(entries) - {MANIFEST, README, name}
    if extra:
        raise _refuse(path, f"unexpected entry {sorted(extra)[0]!r}")
    if name not in entries:
        raise _refuse(path, f"the model {name!r} named in the manifest is missing")
    return entries[name]
