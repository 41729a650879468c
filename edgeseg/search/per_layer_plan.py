"""--prune auto's per-layer candidates: a `per_layer` candidate of ratio r asks for per-layer
channel counts whose latency, estimated on the target's measured latency table, is (1 - r) of
the unpruned int8 model's; prune/per_layer.choose_counts picks them by latency saved per unit of
Taylor importance removed, on the steps the table shows.

The table is measured once per model, runtime, machine and threads and kept in the study's cache
folder (latency_table.json), so other workers, resumed studies and later runs on this machine
reuse it; the importance is computed once per worker.

The same table times the model at each input-resolution scale of RESOLUTION_SCALES it can take
(prune/resolution.py); a `resolution` candidate is one of the scales that beat the table's noise,
offered to the study as the share of plain int8's measured latency it cuts (`scale_points`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..prune.latency_table import LatencyTable, cache_key, cached_table, measure_table, store_table
from ..prune.per_layer import Choice, choose_counts, staircase
from .context import SearchInputs, int8_file
from .timing import measure_interleaved

TABLE_FILE = "latency_table.json"
TABLE_SECONDS = 1.5  # per model in a table pass (all its cells and the unpruned copies in one interleaved run)
TABLE_CALIBRATION = 2  # images calibrating a table's models: they are only timed, never judged
# The input-resolution scales the table times (those the model can take): 0.75 and 0.5 of each side,
# where the scaled side stays at least MIN_SCALED_SIDE pixels: a policy, not a measurement (small
# inputs, such as the 32x32 test models, keep their resolution).
RESOLUTION_SCALES = (0.75, 0.5)
MIN_SCALED_SIDE = 64


@dataclass
class PerLayerPlanner:
    """Per-layer counts for a latency cut, on this worker's target runtime and machine."""

    ctx: SearchInputs
    model_sha256: str
    runtime: object
    machine: str
    threads: int
    cache: Path
    scratch: Path  # where the table's models are built (removed after timing; never shipped)
    _table: LatencyTable | None = None
    _importance: dict | None = field(default=None, repr=False)

    def table(self) -> LatencyTable:
        if self._table is None:
            key = cache_key(self.model_sha256, self.runtime.name, self.machine, self.threads)
            self._table = cached_table(self.cache / TABLE_FILE, key)
            if self._table is None:
                self._table = self._measure()
                store_table(self.cache / TABLE_FILE, key, self._table)
        return self._table

    def _measure(self) -> LatencyTable:
        import tempfile

        from ..prune.channels import channel_spaces, prune_channels
        from ..prune.resolution import runnable_scales

        made = iter(range(10 ** 6))
        image = self.ctx.timing_image()
        self.scratch.mkdir(parents=True, exist_ok=True)
        scratch = tempfile.TemporaryDirectory(prefix="latency_table-", dir=self.scratch)

        def build_int8(counts: dict[str, int]) -> Path:
            model = prune_channels(self.ctx.model, 0.0, counts=counts).model if counts else self.ctx.model
            return int8_file(model, self.ctx, Path(scratch.name) / f"t{next(made):04d}.tflite", TABLE_CALIBRATION)

        def build_scaled(scale: float) -> Path:  # the wrapper runnable_scales built and ran
            return int8_file(scales[scale], self.ctx, Path(scratch.name) / f"t{next(made):04d}.tflite",
                             TABLE_CALIBRATION)

        if self.ctx.config.edgetpu:  # the wrapper's half-pixel RESIZE_BILINEAR is not an Edge TPU op
            scales, refused = {}, dict.fromkeys(RESOLUTION_SCALES, "--edgetpu: the wrapper's bilinear resize "
                                                "(half-pixel centers) does not map to the Edge TPU")
        else:
            scales, refused = runnable_scales(self.ctx.model, RESOLUTION_SCALES, MIN_SCALED_SIDE)
        for scale, why in refused.items():
            self.ctx.log(f"      input scale {scale:g} is not an option: {why}")

        def time_paths(paths: list[Path]) -> list[float]:
            return measure_interleaved(paths, lambda p: self.runtime.load(p, self.threads), image,
                                       min_runs=20, min_seconds=TABLE_SECONDS)

        self.ctx.log(f"      measuring the latency table on {self.runtime.name} (once per model and machine; "
                     f"kept in {self.cache / TABLE_FILE})")
        with scratch:
            return measure_table(channel_spaces(self.ctx.model), build_int8, time_paths, self.runtime.name,
                                 self.machine, self.threads, log=self.ctx.log, scales=tuple(scales),
                                 build_scaled=build_scaled)

    def importance(self) -> dict:
        if self._importance is None:
            from ..prune.channels import space_scores
            from ..prune.ranking import taylor_scores

            taylor = taylor_scores(self.ctx.model, self.ctx.train, self.ctx.spec_dict["classes"],
                                   self.ctx.config.batch_size)
            self._importance = space_scores(self.ctx.model, taylor)
        return self._importance

    def choice(self, ratio: float) -> Choice:
        """Counts for a cut of `ratio` of the table's unpruned latency."""
        table = self.table()
        if not any(len(staircase(row, table.noise_ms)) > 1 for row in table.rows.values()):
            # no step anywhere: nothing to rank, so no Taylor pass (23 s for the seed U-Net at 128x128)
            return Choice({space: max(row) for space, row in table.rows.items()}, table.base_ms, table.base_ms)
        return choose_counts(table.rows, self.importance(), table.base_ms, table.base_ms * (1.0 - ratio),
                             table.noise_ms)


    def scale_points(self) -> dict[float, float]:
        """The resolution options the table says beat the noise, as {latency cut: scale}: the cut
        is 1 - the scale's p50 / the unpruned p50, the `ratio` a resolution candidate is proposed at."""
        table = self.table()
        return {round(1.0 - ms / table.base_ms, 4): scale for scale, ms in table.faster_scales().items()}

    def scale_for(self, ratio: float) -> float:
        """The scale of the option nearest the latency cut `ratio` (proposals are the options' own cuts)."""
        points = self.scale_points()
        if not points:
            raise LookupError("the latency table shows no input scale that beats its noise")
        return points[min(points, key=lambda cut: abs(cut - ratio))]


__all__ = ["MIN_SCALED_SIDE", "PerLayerPlanner", "RESOLUTION_SCALES", "TABLE_FILE"]
