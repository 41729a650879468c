"""The notebook API: `edgeseg.compress("model.keras", data="DIR")` with the CLI's defaults,
returning a typed report. Works when TensorFlow was imported first (see backend.py)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from .artifacts.compress_report import CompressReport
from .config import CompressConfig, DataConfig


@dataclass(frozen=True)
class CompressResult:
    """What compress found, where it wrote it, and what to ship. `raw` is report.json as a
    dict (result["..."] also works); `report` is the same as the typed, validated record."""

    out: Path
    baseline_dice: float
    data_origin: str  # "given", "recorded" (the model's training data) or "none" (agreement only)
    recommended: dict  # format -> the artifact to ship (path, dice, bytes, size_ratio, ...)
    artifacts: list
    raw: dict

    @property
    def deployable(self) -> bool:
        """Whether some int8 artifact may ship (the CLI's exit code 0)."""
        from .artifacts.compress_report import exit_code_for

        return exit_code_for(self.raw) == 0

    def path(self, fmt: str = "tflite") -> Path | None:
        """The recommended artifact of a format, as a path."""
        pick = self.recommended.get(fmt)
        return self.out / pick["path"] if pick else None

    def __getitem__(self, key: str):
        return self.raw[key]

    @property
    def report(self) -> CompressReport:
        return CompressReport.from_dict(self.raw, str(self.out / "report.json"))

    def __str__(self) -> str:
        from .compress.verdict import render_verdict

        return render_verdict(self.raw, self.out)


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
    report = run_pipeline(model, config, out, force=force)
    return CompressResult(out, report["baseline"]["dice"], report.get("data_origin", "given"),
                          report.get("recommended", {}), report["artifacts"], report)
