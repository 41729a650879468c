"""The notebook API: `edgeseg.compress("model.keras", data="DIR")` with the CLI's defaults,
returning a typed report. Works when TensorFlow was imported first (see backend.py)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from .artifacts.compress_records import Recommendation
from .artifacts.compress_report import ArtifactRecord, CompressReport
from .config import CompressConfig, DataConfig


@dataclass(frozen=True)
class CompressResult:
    """What compress found, where it wrote it, and what to ship: `report` is the typed record of
    report.json; result["..."] reads report.json's keys as JSON values."""

    out: Path
    report: CompressReport

    @property
    def baseline_dice(self) -> float:
        return self.report.baseline.dice

    @property
    def data_origin(self) -> str:
        """"given", "recorded" (the model's training data) or "none" (agreement only)."""
        return self.report.data_origin or "given"

    @property
    def recommended(self) -> dict[str, Recommendation]:
        """format -> the artifact to ship (path, dice, bytes, size_ratio, ...)."""
        return self.report.recommended or {}

    @property
    def artifacts(self) -> list[ArtifactRecord]:
        return self.report.artifacts

    @property
    def raw(self) -> dict:
        """report.json as a dict."""
        return self.report.to_dict()

    @property
    def deployable(self) -> bool:
        """Whether some int8 artifact may ship (the CLI's exit code 0)."""
        return self.report.exit_code == 0

    def path(self, fmt: str = "tflite") -> Path | None:
        """The recommended artifact of a format, as a path."""
        pick = self.recommended.get(fmt)
        return self.out / pick.path if pick else None

    def __getitem__(self, key: str):
        return self.raw[key]

    def __str__(self) -> str:
        from .compress.verdict import render_verdict

        return render_verdict(self.report, self.out)


def compress(model: str | Path, data: str | DataConfig | None = None, out: str | Path | None = None, *,
             force: bool = False, config: CompressConfig | None = None, **options) -> CompressResult:
    """Prune, quantize, export and verify `model`; returns the report, also written to `out`
    (default `<model stem>_edgeseg/` beside the model, as on the command line).

    data: a directory (images/ + masks/), "synthetic", or None for the data the model records
    (models edgeseg trained; otherwise artifacts are judged by agreement with the float model).
    options: any CompressConfig field, e.g. formats=("tflite",), prune="none", max_dice_drop=0.02.
    """
    from .compress.pipeline import compress as run_pipeline, default_out_dir

    model = Path(model)
    if isinstance(data, (str, Path)):
        data = DataConfig(source=str(data))
    base = config or CompressConfig()
    if "finetune_steps" in options and "finetune_min_steps" not in options:  # as the CLI does
        options["finetune_min_steps"] = min(base.finetune_min_steps, options["finetune_steps"])
    config = dataclasses.replace(base, data=data if data is not None else base.data, **options)
    out = Path(out) if out is not None else default_out_dir(model)
    return CompressResult(out, run_pipeline(model, config, out, force=force))
