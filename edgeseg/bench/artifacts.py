"""What to benchmark: artifact files, or compress output directories (read through report.json),
and the one preprocessing spec they share. Nothing here imports TensorFlow."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ..artifacts.compress_report import ArtifactRecord, CompressReport, find_compress_report
from ..artifacts.files import gzip_size, inside
from ..config import PreprocessSpec
from ..errors import DataError, EdgesegError, ModelError, UsageError, describe
from ..artifacts.describe import artifact_format


@dataclass(frozen=True)
class Artifact:
    name: str  # unique in one run: the path inside its compress directory, or the file name
    path: Path
    format: str
    precision: str
    bytes: int
    gzip_bytes: int
    sha256: str
    spec: dict | None = None  # the preprocessing spec the file itself carries (instance decode settings too)


def _compress_report(directory: Path) -> CompressReport | None:
    report = find_compress_report(directory)
    if report is None:
        return None
    for a in report.artifacts:  # a report names files inside its own folder, nothing else
        inside(directory, a.path)
    return report


def infer_precision(path: Path, fmt: str) -> str:
    """Read from the model itself when no compress report says it (artifacts.describe)."""
    if fmt == "keras":
        return "float32"
    from ..artifacts.describe import describe

    return describe(path).precision


def _artifact(name: str, path: Path, precision: str | None) -> Artifact:
    fmt = artifact_format(path)
    if fmt is None:
        raise UsageError(f"{path}: not a model artifact (.tflite, .onnx, .keras or .h5)")
    if not path.is_file():
        raise UsageError(f"artifact not found: {path}")
    data = path.read_bytes()
    if not data:
        raise UsageError(f"artifact is empty: {path}")
    return Artifact(name, path, fmt, precision or infer_precision(path, fmt), len(data),
                    gzip_size(path), hashlib.sha256(data).hexdigest(), file_spec(path, fmt))


def file_spec(path: Path, fmt: str) -> dict | None:
    """The spec stored in the model file, or None. An unreadable file gives None here: its row
    says what is wrong with it when the runtime loads it, as for any other corrupt artifact."""
    try:
        if fmt == "keras":
            from ..models.io import stored_spec

            return stored_spec(path)
        from ..artifacts.describe import describe

        return describe(path).spec
    except Exception:  # parsers of foreign files raise many kinds of errors; the row reports it
        return None


def _verified_precision(directory: Path, row: ArtifactRecord) -> str | None:
    """The precision report.json gives, if the file is still the one compress verified; a file
    that changed since is refused (its row would carry another file's label, and might be the
    reference every speed-up is measured against)."""
    if not (directory / row.path).is_file():
        raise DataError(f"{directory / row.path} is listed in {directory / 'report.json'} but missing; "
                        "rerun compress, or bench the remaining files by name")
    if row.sha256 and hashlib.sha256((directory / row.path).read_bytes()).hexdigest() != row.sha256:
        raise DataError(f"{directory / row.path} is not the file compress verified (sha256 differs from "
                        "report.json); rerun compress, or bench the file on its own")
    return row.precision


def _source_model(report: CompressReport, directory: Path) -> Path | None:
    """The float model compress started from, if it is still there unchanged."""
    given = Path(report.model)
    for candidate in (given, directory.parent / given.name):
        if candidate.is_file() and hashlib.sha256(candidate.read_bytes()).hexdigest() == report.model_sha256:
            return candidate
    return None


def collect(paths: list[Path]) -> tuple[list[Artifact], dict | None, list[str]]:
    """(artifacts, the preprocessing spec stored by compress if any, notes for the user)."""
    found: list[tuple[str, Path, str | None]] = []
    specs: list[dict] = []
    notes: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            report = _compress_report(path)
            if report is None:
                raise UsageError(f"{path} is a directory without a compress report.json; give artifact files")
            specs.append(report.spec)
            source = _source_model(report, path)
            if source is not None:
                found.append((source.name, source, "float32"))
            else:
                notes.append(f"the float model {report.model} is not beside {path} (or has changed): "
                             "no float Keras row")
            found += [(a.path, path / a.path, _verified_precision(path, a)) for a in report.artifacts]
            edgetpu = sorted(path.glob("*_edgetpu.tflite"))
            found += [(p.name, p, "int8") for p in edgetpu]
        elif not path.exists():
            raise UsageError(f"not found: {path}")
        else:
            report = _compress_report(path.parent)
            row = report.artifact(path.name) if report is not None else None
            if report is not None:
                specs.append(report.spec)
            precision = row.precision if row is not None else None
            found.append((path.name, path, precision))
    names = [name for name, _, _ in found]
    artifacts, seen = [], set()
    for name, path, precision in found:
        unique = name if names.count(name) == 1 else f"{path.parent.name}/{name}"
        if unique in seen:
            continue  # the same file named twice
        seen.add(unique)
        artifacts.append(_artifact(unique, path, precision))
    if not artifacts:
        raise UsageError("nothing to benchmark")
    distinct = {json.dumps(s, sort_keys=True) for s in specs}
    if len(distinct) > 1:
        raise UsageError("these compress directories hold models with different inputs; bench them separately")
    return artifacts, (specs[0] if specs else None), notes


def input_shape(artifact: Artifact) -> tuple[int, int, int, int]:
    """(height, width, channels, output channels) read from the artifact itself; a corrupt
    artifact is one line naming it, whatever its parser raised."""
    try:
        return _read_input_shape(artifact)
    except EdgesegError:
        raise
    except Exception as exc:  # flatbuffer, protobuf and HDF5 parsers fail in many ways
        raise ModelError(f"{artifact.path} is not a readable {artifact.format} model ({describe(exc)})") from None


def _read_input_shape(artifact: Artifact) -> tuple[int, int, int, int]:
    if artifact.format == "keras":
        from ..models.io import stored_spec

        spec = stored_spec(artifact.path)
        if spec is None:
            raise UsageError(f"{artifact.path} carries no preprocessing spec; bench it with a compress directory")
        return spec["height"], spec["width"], spec["channels"], spec.get("classes", 1)
    from ..artifacts.describe import describe

    desc = describe(artifact.path)
    (_, h, w, c), out = desc.input.shape, desc.output.shape
    return int(h or 0), int(w or 0), int(c or 0), int(out[-1] or 0)


# Spec keys that may differ between artifacts of one model: each artifact's own decoding settings
# (compress may re-tune them per artifact) and what a Keras file records about its training data.
PER_ARTIFACT_KEYS = ("decode", "trained_on")


def shared_file_spec(artifacts: list[Artifact]) -> dict | None:
    """The spec every artifact file carries, if all carry one and they agree on preprocessing."""
    specs = [a.spec for a in artifacts]
    if not specs or any(not isinstance(s, dict) for s in specs):
        return None
    distinct = {json.dumps({k: v for k, v in s.items() if k not in PER_ARTIFACT_KEYS}, sort_keys=True) for s in specs}
    return specs[0] if len(distinct) == 1 else None


def resolve_spec(artifacts: list[Artifact], stored: dict | None, normalize: str | None) -> tuple[PreprocessSpec, str]:
    """The one spec every row is scored with, and where it came from: the compress report's, else
    the one the artifact files carry (so an instance model is recognised from the file alone),
    else the models' input shape."""
    source = "the compress report"
    if stored is None:
        stored, source = shared_file_spec(artifacts), "the spec stored in the artifacts"
    if stored is not None:
        spec = PreprocessSpec.from_dict(stored)
        if normalize is not None and normalize != spec.normalize:
            raise UsageError(f"the models were made with normalize {spec.normalize}; leave --normalize out")
        return spec, source
    shapes = {input_shape(a) for a in artifacts}
    if len(shapes) > 1:
        raise UsageError(f"the artifacts take different inputs {sorted(shapes)}; bench them separately")
    h, w, c, out = shapes.pop()
    spec = PreprocessSpec(h, w, c, normalize or "0-1", classes=out)
    return spec, f"the model's input shape, normalize {spec.normalize}"
