"""What `bundle` packs must be what compress verified: the report is read through a typed
check, the artifact must lie inside the compress folder (no '..', no link out of it), and its
sha256 must match the one report.json recorded when compress measured its Dice."""
from __future__ import annotations

import hashlib
from pathlib import Path

from ..artifacts.compress_report import ArtifactRecord, CompressReport, read_compress_report
from ..artifacts.files import inside
from ..errors import DataError, UsageError


def read_report(compress_dir: Path) -> CompressReport:
    """report.json through the one typed reader every consumer uses."""
    return read_compress_report(compress_dir)


def verified_artifact(compress_dir: Path, artifact: str,
                      allow_undeployable: bool) -> tuple[CompressReport, ArtifactRecord, Path, bytes]:
    """(report, the artifact's row, its path, its bytes) once every check passed."""
    report = read_report(compress_dir)
    report_path = Path(compress_dir) / "report.json"
    row = report.artifact(artifact)
    if row is None:
        names = ", ".join(dict.fromkeys(a.path for a in report.artifacts))
        raise UsageError(f"{artifact!r} is not in {report_path}; choose one of: {names}")
    if not row.deployable and not allow_undeployable:
        raise UsageError(f"{artifact} is not deployable ({row.reason}); pass --allow-undeployable to bundle it anyway")
    model_path = inside(compress_dir, artifact)
    if not model_path.is_file():
        raise DataError(f"{model_path} is missing from the compress folder")
    data = model_path.read_bytes()
    if len(data) != row.bytes:
        raise DataError(f"{model_path} is {len(data)} bytes but compress wrote {row.bytes}: it was changed")
    if not isinstance(row.sha256, str):
        raise DataError(f"{report_path} records no sha256 for {artifact} (an older edgeseg?); rerun compress so "
                        "the bundle can prove it holds the verified artifact")
    if hashlib.sha256(data).hexdigest() != row.sha256:
        raise DataError(f"{model_path} is not the file compress verified (sha256 differs from report.json)")
    return report, row, model_path, data
