"""A model file written in stages (train saves every better epoch): the stages go to a
temporary sibling that becomes the real file only when the run finishes, so an interrupted
run leaves nothing at --out that would block the rerun."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .safety import holds_claim, publish, sweep_stale_temps, temp_sibling


@contextmanager
def staged_model(out: Path, force: bool) -> Iterator[Path]:
    """Yields the path to save to (same suffix as `out`); on success it is moved to `out`
    (never over an existing file without --force), on failure removed."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if holds_claim(out):
        sweep_stale_temps(out)
    staging = temp_sibling(out, directory=False)
    staging.unlink()  # only the name is reserved: Keras writes the file itself
    try:
        yield staging
        if staging.exists():  # a worker that is not the chief writes nothing
            publish(staging, out, force)
    finally:
        staging.unlink(missing_ok=True)
