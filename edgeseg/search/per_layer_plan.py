"""--prune auto's per-layer candidates: a `per_layer` candidate of ratio r asks for per-layer
channel counts whose latency, estimated on the target's measured latency table, is (1 - r) of
the unpruned int8 model's; prune/per_layer.choose_counts picks them by latency saved per unit of
Taylor importance removed, on the steps the table shows.

The table is measured once per model, runtime, machine and threads and kept in the study's cache
folder (latency_table.json), so other workers, resumed studies and later runs on this machine
reuse it; the importance is computed once per worker."""
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

        made = iter(range(10 ** 6))
        image = self.ctx.timing_image()
        self.scratch.mkdir(parents=True, exist_ok=True)
        scratch = tempfile.TemporaryDirectory(prefix="latency_table-", dir=self.scratch)

        def build_int8(counts: dict[str, int]) -> Path:
            model = prune_channels(self.ctx.model, 0.0, counts=counts).model if counts else self.ctx.model
            return int8_file(model, self.ctx, Path(scratch.name) / f"t{next(made):04d}.tflite", TABLE_CALIBRATION)

        def time_paths(paths: list[Path]) -> list[float]:
            return measure_interleaved(paths, lambda p: self.runtime.load(p, self.threads), image,
                                       min_runs=20, min_seconds=TABLE_SECONDS)

        self.ctx.log(f"      measuring the latency table on {self.runtime.name} (once per model and machine; "
                     f"kept in {self.cache / TABLE_FILE})")
        with scratch:
            return measure_table(channel_spaces(self.ctx.model), build_int8, time_paths, self.runtime.name,
                                 self.machine, self.threads, log=self.ctx.log)

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


__all__ = ["PerLayerPlanner", "TABLE_FILE"]
