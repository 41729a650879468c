"""Deploy bundles: one zip with the model, manifest.json and a short README for the device.
The manifest pins the model by sha256; opening a bundle checks it before anything runs."""
from __future__ import annotations

import datetime
import hashlib
import io
import json
import shutil
import tempfile
import weakref
import zipfile
from pathlib import Path

from .. import __version__
from ..artifacts.compress_report import CompressReport
from ..artifacts.manifest import SCHEMA, BundleManifest
from ..config import PreprocessSpec
from ..errors import ModelError, UsageError, first_line
from ..outputs import check_output_file, write_file_atomic
from ..runtimes.base import package_version
from .bundle_safety import CAPS, MANIFEST, MAX_MODEL_BYTES, check_entries, check_manifest, model_entry, read_capped
from .bundle_source import read_report, verified_artifact


DEVICE_README = """edgeseg deploy bundle
=====================

{model} is a {precision} {fmt} segmentation model ({height}x{width}x{channels} input,
normalize {normalize}, {classes} class(es), threshold {threshold}). manifest.json pins it by
sha256 and records its input/output quantization and the Dice measured by edgeseg compress.

On the device (no TensorFlow needed):

    pip install numpy pillow {runtime_package}
    pip install --no-deps EDGESEG_WHEEL_OR_CHECKOUT   # the edgeseg package, without TensorFlow
    python -m edgeseg predict {bundle} IMAGE_OR_DIR... --out masks/ [--overlay] [--tile]

predict checks the model's sha256 against the manifest and refuses a bundle that was changed.
"""


def _io_details(model_path: Path) -> tuple[dict, dict]:
    """The model's input and output as the device will see them, read from the file."""
    from ..artifacts.describe import describe

    def detail(t) -> dict:
        quantization = {"scale": t.scale, "zero_point": t.zero_point} if t.scale else None
        return {"name": t.name, "shape": list(t.shape), "dtype": t.dtype, "quantization": quantization}

    desc = describe(model_path)
    return detail(desc.input), detail(desc.output)


def _latency_rows(bench_json: Path | None, artifact: str) -> list[dict]:
    if bench_json is None:
        return []
    from ..artifacts.bench_report import read_bench_report

    report = read_bench_report(bench_json)
    machine = report.machine.label if report.machine is not None else None
    return [{"runtime": r.runtime, "machine": r.machine or machine, "threads": r.threads,
             "p50_ms": r.p50_ms, "p90_ms": r.p90_ms, "runs": r.runs}
            for r in report.rows if r.artifact == artifact and r.status == "ok"]


def default_bundle_path(compress_dir: Path) -> Path:
    """Beside the compress directory, never inside it (an output never sits inside an input)."""
    compress_dir = Path(compress_dir).resolve()  # "." has no name to build on
    return compress_dir.with_name(f"{compress_dir.name}_bundle.zip")


def _chosen_artifact(report: CompressReport, artifact: str | None, compress_dir: Path, report_path: Path) -> str:
    """The report's name for the artifact: the recommended one by default; a path to a file in
    the compress directory is accepted as well as the name report.json lists."""
    if artifact is None:
        if report.recommended is None:
            raise UsageError(f"{report_path} records no recommendation (a report from an older edgeseg); "
                             "rerun compress, or name the artifact with --artifact")
        recommended = report.recommended
        # TFLite first (the edge runtime), then ONNX, then whatever else compress recommended.
        pick = next((recommended[f] for f in ("tflite", "onnx", *recommended) if f in recommended), None)
        if pick is None:
            raise UsageError(f"{report_path} recommends no artifact (none is deployable); name one with --artifact")
        return pick.path
    candidate = Path(artifact)
    if candidate.is_file() and candidate.resolve().parent == compress_dir.resolve():
        return candidate.name
    return artifact


def make_bundle(compress_dir: Path, artifact: str | None, out: Path, bench_json: Path | None = None,
                force: bool = False, allow_undeployable: bool = False) -> dict:
    compress_dir, out = Path(compress_dir), Path(out)
    check_output_file(out, force, inputs=(compress_dir, bench_json))
    if out.suffix.lower() != ".zip":
        raise UsageError(f"--out must end in .zip: {out}")
    report_path = compress_dir / "report.json"
    artifact = _chosen_artifact(read_report(compress_dir), artifact, compress_dir, report_path)
    report, row, model_path, data = verified_artifact(compress_dir, artifact, allow_undeployable)
    # The spec the artifact itself stores: an instance artifact may carry decoding settings
    # re-tuned for it, which is what compress verified it with (the report's spec is the float model's).
    from ..artifacts.describe import describe

    spec = PreprocessSpec.from_dict(describe(model_path).spec or report.spec)
    model_input, model_output = _io_details(model_path)
    runtime_package = "ai-edge-litert" if row.format == "tflite" else "onnxruntime"
    manifest = BundleManifest.from_dict({
        "schema": SCHEMA,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": {"file": model_path.name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                  "format": row.format, "precision": row.precision, "sparsity": row.sparsity},
        "input": model_input, "output": model_output, "preprocessing": spec.to_dict(),
        "measured": {"dice": row.dice, "iou": row.iou, "baseline_dice": report.baseline.dice,
                     "data": report.data, "images": report.baseline.images,
                     "runtime": row.runtime, "deployable": row.deployable, "reason": row.reason,
                     "latency": _latency_rows(bench_json, artifact)},
        "versions": {"edgeseg": __version__, runtime_package: package_version(runtime_package),
                     "tensorflow": package_version("tensorflow"), "compress_report": report.schema},
    }).to_dict()  # written only once it reads back through the reader every device uses
    readme = DEVICE_README.format(model=model_path.name, precision=row.precision, fmt=row.format,
                                  runtime_package=runtime_package, bundle=out.name, **spec.to_dict())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, json.dumps(manifest, indent=2) + "\n")
        archive.writestr(model_path.name, data)
        archive.writestr("README.txt", readme)
    write_file_atomic(out, buffer.getvalue(), force)
    return manifest


def read_bundle(path: Path) -> tuple[dict, bytes]:
    """(manifest, model bytes), after checking every entry (bundle_safety) and the model's
    sha256 against the manifest."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            entries = check_entries(archive, path)
            typed = check_manifest(json.loads(read_capped(archive, entries[MANIFEST], CAPS[MANIFEST], path)), path)
            data = read_capped(archive, model_entry(entries, typed, path), MAX_MODEL_BYTES, path)
            manifest = typed.to_dict()
    except FileNotFoundError:
        raise ModelError(f"bundle not found: {path}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, json.JSONDecodeError, UnicodeDecodeError, OSError,
            NotImplementedError, RuntimeError, EOFError) as exc:  # corrupt or encrypted zips fail in many ways
        raise ModelError(f"{path} is not an edgeseg bundle ({type(exc).__name__}: {first_line(exc)})") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != manifest["model"]["sha256"]:
        raise ModelError(f"{path}: the model's sha256 {digest[:12]}... does not match the manifest's "
                         f"{manifest['model']['sha256'][:12]}...: the bundle was changed or is corrupt; refusing to run it")
    return manifest, data


def open_bundle(path: Path, threads: int | None = None):
    from .segmenter import Segmenter

    manifest, data = read_bundle(path)
    spec = PreprocessSpec.from_dict(manifest["preprocessing"])
    # The runtimes load from a file: the verified bytes go to a private folder under a name
    # edgeseg chooses (only the suffix comes from the validated manifest).
    directory = tempfile.mkdtemp(prefix="edgeseg-bundle-")
    model_path = Path(directory) / ("model" + Path(manifest["model"]["file"]).suffix.lower())
    model_path.write_bytes(data)
    try:
        segmenter = Segmenter(model_path, spec=spec, threads=threads)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    segmenter.manifest = manifest
    segmenter.spec_source = f"the bundle's manifest, model sha256 {manifest['model']['sha256'][:12]}... verified"
    weakref.finalize(segmenter, shutil.rmtree, directory, True)
    return segmenter
