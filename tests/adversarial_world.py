"""The inputs the adversarial battery refers to by name ({data}, {evil_bundle}, ...), each built
on demand inside the case's own folder, so a case's before/after snapshot covers all of them."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

import adversarial_helpers as h

GOOD_MODEL = b"garbage, not a flatbuffer"


def _dataset(root: Path, count: int = 4, size: int = 24, mask_suffix: str = ".png") -> Path:
    from conftest import write_pair

    for i in range(count):
        pixels = (np.arange(size * size).reshape(size, size) % 200).astype(np.uint8)
        write_pair(root, f"p{i}", pixels, ((pixels > 100) * 255).astype(np.uint8), mask_suffix=mask_suffix)
    return root


def _bench_json(path: Path, **changes) -> Path:
    report = {"schema": "edgeseg.bench/1", "machine": {"label": "m"},
              "rows": [{"artifact": "a.tflite", "runtime": "litert-cpu", "status": "ok", "p50_ms": 1.0,
                        "dice": 0.9, "bytes": 10}]}
    report.update(changes)
    path.write_text(json.dumps(report))
    return path


def _compress_dir(root: Path, row_changes: dict | None = None, report_changes: dict | None = None,
                  model: bytes = GOOD_MODEL) -> Path:
    import hashlib

    root.mkdir()
    (root / "model_int8.tflite").write_bytes(model)
    row = {"path": "model_int8.tflite", "format": "tflite", "precision": "int8", "deployable": True,
           "bytes": len(model), "reason": "within budget", "dice": 0.9, "iou": 0.8,
           "sha256": hashlib.sha256(model).hexdigest()}
    row.update(row_changes or {})
    report = {"schema": "edgeseg.compress/1", "spec": {"height": 32, "width": 32}, "baseline": {"dice": 0.9},
              "artifacts": [row], "data": "synthetic", "model": "m.keras", "model_sha256": "0" * 64, "config": {}}
    report.update(report_changes or {})
    (root / "report.json").write_text(json.dumps(report))
    return root


def _bundle_entries(model_file="model.tflite", data=GOOD_MODEL, **changes):
    return [("manifest.json", json.dumps(h.manifest(model_file, data, **changes)).encode()), (model_file, data)]


LAMBDA_FUNCTIONAL = h.functional_config([h.input_layer(), h.lambda_layer()])
NESTED_LAMBDA = h.functional_config([h.input_layer(), {"class_name": "Sequential", "name": "inner", "config": {
    "name": "inner", "layers": [h.lambda_layer("deep")]}, "inbound_nodes": []}])
TWO_INPUTS = h.functional_config([h.input_layer("input_1"), h.input_layer("input_2")],
                                 inputs=(("input_1", 0, 0), ("input_2", 0, 0)))
DYNAMIC = h.functional_config([h.input_layer(shape=(None, None, None, 1))])

def _keras_with_metadata(path: Path, metadata: bytes) -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", metadata)
        archive.writestr("config.json", "{}")
        archive.writestr("model.weights.h5", b"")
    return path


def _float_tiff_data(root: Path) -> Path:
    """Raw 12-bit counts stored as float32 TIFF: read as 0..1 they would saturate to 1.0."""
    from PIL import Image

    _dataset(root)
    for i, image in enumerate(sorted((root / "images").iterdir())):
        counts = (np.arange(24 * 24, dtype=np.float32).reshape(24, 24) * 7.0) % 4096
        image.unlink()
        Image.fromarray(counts, mode="F").save(root / "images" / f"p{i}.tif")
    return root


# name -> builder(folder) -> path. Only the names a case uses are built.
BUILDERS = {
    "tmp": lambda d: d,
    "img": lambda d: h.image(d / "in.png"),
    "rgba": lambda d: h.image(d / "rgba.png", mode="RGBA"),
    "imgdir": lambda d: (d / "imgs").mkdir() or h.image(d / "imgs" / "a.png").parent,
    "bomb": lambda d: h.bomb_png(d / "bomb.png"),
    "file": lambda d: put(d / "afile.txt", "x"),
    "nonempty": lambda d: (d / "full").mkdir() or (d / "full" / "keep.txt").write_text("x") and d / "full",
    "emptydir": lambda d: (d / "empty").mkdir() or d / "empty",
    "data": lambda d: _dataset(d / "data"),
    "data_one": lambda d: _dataset(d / "one", count=1),
    "data_noimages": lambda d: (d / "noimg" / "masks").mkdir(parents=True) or d / "noimg",
    "data_nomasks": lambda d: (d / "nomask" / "images").mkdir(parents=True) or d / "nomask",
    "data_empty": lambda d: [(d / "de" / s).mkdir(parents=True) for s in ("images", "masks")] and d / "de",
    "data_orphan": lambda d: (_dataset(d / "orph"), (d / "orph" / "images" / "p0.png").unlink()) and d / "orph",
    "data_missing_mask": lambda d: (_dataset(d / "mm"), (d / "mm" / "masks" / "p1.png").unlink()) and d / "mm",
    "data_garbage": lambda d: (_dataset(d / "dg"), (d / "dg" / "images" / "p2.png").write_text("no")) and d / "dg",
    "data_bomb": lambda d: (_dataset(d / "db"), h.bomb_png(d / "db" / "images" / "p3.png")) and d / "db",
    "data_bigbomb": lambda d: (_dataset(d / "dbb"), h.bomb_png(d / "dbb" / "masks" / "p0.png", 9000, 9000)) and d / "dbb",
    "data_float_tiff": lambda d: _float_tiff_data(d / "ft"),
    "data_split_empty_val": lambda d: (_dataset(d / "sp" / "train"),
                                       [(d / "sp" / "val" / s).mkdir(parents=True) for s in ("images", "masks")]) and d / "sp",
    "custom_exit": lambda d: (d / "layers.py").write_text("import sys\nsys.exit(3)\n") and d / "layers.py",
    # models
    "empty_keras": lambda d: put(d / "e.keras", b""),
    "notzip_keras": lambda d: put(d / "nz.keras", "hello"),
    "noconfig_keras": lambda d: h.crafted_bundle(d / "nc.keras", [("metadata.json", b"{}")]),
    "future_keras": lambda d: h.keras_archive(d / "f.keras", {}, version="4.0.0"),
    "badjson_keras": lambda d: h.keras_archive(d / "bj.keras", "{oops"),
    "list_keras": lambda d: h.keras_archive(d / "ls.keras", "[1, 2]"),
    "lambda_keras": lambda d: h.keras_archive(d / "lam.keras", LAMBDA_FUNCTIONAL),
    "lambda3_keras": lambda d: h.keras_archive(d / "lam3.keras", LAMBDA_FUNCTIONAL, version="3.5.0"),
    "nested_lambda_keras": lambda d: h.keras_archive(d / "nl.keras", NESTED_LAMBDA),
    "two_inputs_keras": lambda d: h.keras_archive(d / "ti.keras", TWO_INPUTS, version="3.5.0"),
    "dynamic_keras": lambda d: h.keras_archive(d / "dy.keras", DYNAMIC, version="3.5.0"),
    "plain_keras": lambda d: h.keras_archive(d / "plain.keras", {}),
    "meta_notutf8_keras": lambda d: _keras_with_metadata(d / "mu.keras", b"\xff\xfe\x00"),
    "meta_list_keras": lambda d: _keras_with_metadata(d / "mlist.keras", b"[1, 2]"),
    "garbage_h5": lambda d: put(d / "g.h5", "not hdf5"),
    "weights_h5": lambda d: h.h5_model(d / "w.h5", None),
    "lambda_h5": lambda d: h.h5_model(d / "lam.h5", LAMBDA_FUNCTIONAL),
    "nested_lambda_h5": lambda d: h.h5_model(d / "nl.h5", NESTED_LAMBDA),
    "two_inputs_h5": lambda d: h.h5_model(d / "ti.h5", TWO_INPUTS),
    "badjson_h5": lambda d: h.h5_model(d / "bj.h5", None) and _h5_raw(d / "bj.h5", "{oops"),
    "txt_model": lambda d: put(d / "model.txt", "x"),
    "garbage_tflite": lambda d: put(d / "g.tflite", GOOD_MODEL),
    "empty_tflite": lambda d: put(d / "e.tflite", b""),
    "garbage_onnx": lambda d: put(d / "g.onnx", b"not onnx"),
    # bench files
    "bench_ok": lambda d: _bench_json(d / "base.json"),
    "bench_notjson": lambda d: put(d / "nj.json", "{"),
    "bench_list": lambda d: put(d / "bl.json", "[]"),
    "bench_schema": lambda d: _bench_json(d / "bs.json", schema="other/1"),
    "bench_norows": lambda d: _bench_json(d / "bn.json", rows={"a": 1}),
    "bench_nomachine": lambda d: _bench_json(d / "bm.json", machine=None),
    "bench_badrow": lambda d: _bench_json(d / "br.json", rows=[{"artifact": "a"}]),
    "bench_zero_bytes": lambda d: _bench_json(d / "zb.json", rows=[{"artifact": "a.tflite", "runtime": "litert-cpu",
                                                                     "status": "ok", "p50_ms": 1.0, "dice": 0.9,
                                                                     "bytes": 0}]),
    "bench_merged": lambda d: _bench_json(d / "mg.json", machines=[{"label": "a"}]),
    # compress folders (for bundle and bench)
    "cdir": lambda d: _compress_dir(d / "c"),
    "cdir_notjson": lambda d: _compress_dir(d / "cnj") and ((d / "cnj" / "report.json").write_text("{")) and d / "cnj",
    "cdir_list": lambda d: _compress_dir(d / "cl") and ((d / "cl" / "report.json").write_text("[]")) and d / "cl",
    "cdir_noartifacts": lambda d: _compress_dir(d / "cna", report_changes={"artifacts": "x"}),
    "cdir_badrow": lambda d: _compress_dir(d / "cbr", row_changes={"bytes": "many"}),
    "cdir_nosha": lambda d: _compress_dir(d / "cns", row_changes={"sha256": None}),
    "cdir_badsha": lambda d: _compress_dir(d / "cbs", row_changes={"sha256": "0" * 64}),
    "cdir_badbytes": lambda d: _compress_dir(d / "cbb", row_changes={"bytes": 3}),
    "cdir_undeployable": lambda d: _compress_dir(d / "cu", row_changes={"deployable": False}),
    "cdir_outside": lambda d: (_compress_dir(d / "co", row_changes={"path": "../outside.tflite"}),
                               (d / "outside.tflite").write_bytes(GOOD_MODEL)) and d / "co",
    "cdir_nobaseline": lambda d: _compress_dir(d / "cnb", report_changes={"baseline": []}),
    "cdir_missing": lambda d: (_compress_dir(d / "cm"), (d / "cm" / "model_int8.tflite").unlink()) and d / "cm",
    "cdir_2ch": lambda d: _compress_dir(d / "c2", report_changes={"spec": {"height": 32, "width": 32, "channels": 2}}),
    "cdir_nodir": lambda d: d / "no_such_compress_dir",
    # bundles
    "b_abs": lambda d: h.bundle_with_model_name(d / "abs.zip", str(d / "victim.tflite")),
    "b_dotdot": lambda d: h.bundle_with_model_name(d / "dd.zip", "../../victim.tflite"),
    "b_backslash": lambda d: h.bundle_with_model_name(d / "bsl.zip", "..\\..\\victim.tflite"),
    "b_subdir": lambda d: h.bundle_with_model_name(d / "sub.zip", "sub/model.tflite"),
    "b_exe": lambda d: h.bundle_with_model_name(d / "exe.zip", "model.exe"),
    "b_noname": lambda d: h.bundle_with_model_name(d / "nn.zip", ""),
    "b_dot": lambda d: h.bundle_with_model_name(d / "dot.zip", ".."),
    "b_control": lambda d: h.bundle_with_model_name(d / "ctl.zip", "mo\ndel.tflite"),
    "b_dup": lambda d: h.crafted_bundle(d / "dup.zip", _bundle_entries() + [("model.tflite", b"other")]),
    "b_extra": lambda d: h.crafted_bundle(d / "ex.zip", _bundle_entries() + [("run.sh", b"rm -rf /")]),
    "b_four": lambda d: h.crafted_bundle(d / "four.zip", _bundle_entries() + [("README.txt", b"r"), ("x.onnx", b"")]),
    "b_dir": lambda d: h.crafted_bundle(d / "dir.zip", _bundle_entries() + [("folder/", b"")]),
    "b_link": lambda d: h.crafted_bundle(d / "ln.zip", _bundle_entries(), symlink="model2.tflite"),
    "b_nomanifest": lambda d: h.crafted_bundle(d / "nm.zip", [("model.tflite", GOOD_MODEL)]),
    "b_manifest_notjson": lambda d: h.crafted_bundle(d / "mnj.zip", [("manifest.json", b"{"), ("model.tflite", GOOD_MODEL)]),
    "b_manifest_list": lambda d: h.crafted_bundle(d / "ml.zip", [("manifest.json", b"[]"), ("model.tflite", GOOD_MODEL)]),
    "b_manifest_binary": lambda d: h.crafted_bundle(d / "mb.zip", [("manifest.json", b"\xff\xfe\x00"), ("model.tflite", GOOD_MODEL)]),
    "b_nomodel_obj": lambda d: h.crafted_bundle(d / "nmo.zip", _bundle_entries(model=None)[:1]),
    "b_model_str": lambda d: h.crafted_bundle(d / "mstr.zip", _bundle_entries(model="model.tflite")),
    "b_file_int": lambda d: h.crafted_bundle(d / "fi.zip", [("manifest.json", json.dumps(
        {"schema": "edgeseg.bundle/1", "model": {"file": 7, "sha256": "0" * 64}, "preprocessing": {}}).encode())]),
    "b_badhex": lambda d: h.crafted_bundle(d / "bh.zip", [("manifest.json", json.dumps(
        h.manifest("model.tflite", GOOD_MODEL) | {"model": {"file": "model.tflite", "sha256": "xyz"}}).encode()),
        ("model.tflite", GOOD_MODEL)]),
    "b_shamismatch": lambda d: h.crafted_bundle(d / "sm.zip", [_bundle_entries()[0], ("model.tflite", b"changed")]),
    "b_schema": lambda d: h.crafted_bundle(d / "sc.zip", _bundle_entries(schema="edgeseg.bundle/9")),
    "b_nopre": lambda d: h.crafted_bundle(d / "np.zip", _bundle_entries(preprocessing=None)),
    "b_badpre": lambda d: h.crafted_bundle(d / "bp.zip", _bundle_entries(preprocessing={"height": "tall", "width": 3})),
    "b_missing_model": lambda d: h.crafted_bundle(d / "mm.zip", _bundle_entries()[:1]),
    "b_other_model": lambda d: h.crafted_bundle(d / "om.zip", [_bundle_entries()[0], ("other.tflite", GOOD_MODEL)]),
    "b_big_manifest": lambda d: h.crafted_bundle(d / "bigm.zip", [("manifest.json", b" " * (2 * 2**20)),
                                                                  ("model.tflite", GOOD_MODEL)]),
    "b_garbage_model": lambda d: h.crafted_bundle(d / "gm.zip", _bundle_entries()),
    "b_notzip": lambda d: put(d / "nz.zip", "not a zip"),
    "b_empty": lambda d: put(d / "e.zip", b""),
    "b_truncated": lambda d: _truncate(h.crafted_bundle(d / "tr.zip", _bundle_entries()), 60),
    "b_absent": lambda d: d / "absent.zip",
}


def put(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _h5_raw(path: Path, text: str) -> Path:
    import h5py

    with h5py.File(path, "a") as h5:
        h5.attrs["model_config"] = text
    return path


def _truncate(path: Path, keep: int) -> Path:
    path.write_bytes(path.read_bytes()[:keep])
    return path


class World(dict):
    """{name} in a case's argv -> the path of that input, built in `root` on first use. Names
    that BUILDERS does not know are left for the case's slow fixtures (see SLOW_BUILDERS)."""

    def __init__(self, root: Path, extra: dict | None = None):
        super().__init__()
        self.root, self.extra = root, extra or {}

    def __missing__(self, key: str) -> str:
        builder = self.extra.get(key) or BUILDERS[key]
        value = str(builder(self.root))
        self[key] = value
        return value


def copy_into(source: Path):
    return lambda d: shutil.copy(source, d / Path(source).name)
