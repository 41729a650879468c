"""Atomic output directories: write into a hidden sibling, rename into place at the end.

The output is claimed first (safety.claim_output): a second run on the same output fails at
once. The temporary sibling is named .<name>.edgeseg-tmp-<pid>-<token>, so a later run sweeps
what a killed one left, and it is created with the user's umask."""
from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable

from .errors import OutputExistsError
from .safety import check_writable, claim_output, publish, refuse_overlap, sweep_stale_temps, temp_sibling


def check_output_dir(out: Path, force: bool, inputs: Iterable = ()) -> None:
    """Before any work: not a file, not non-empty without --force, apart from every input, writable."""
    out = Path(out)
    refuse_overlap(out, inputs)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise OutputExistsError(f"{out} exists and is not empty; pass --force to replace it")
    check_writable(out)


@contextmanager
def atomic_output_dir(out: Path, force: bool, inputs: Iterable = ()):
    """Yields a temporary directory; on success it replaces `out`, on any failure it is removed."""
    out = Path(out)
    check_output_dir(out, force, inputs)
    with claim_output(out):
        sweep_stale_temps(out)
        tmp = temp_sibling(out, directory=True)
        try:
            yield tmp
            _move_into_place(tmp, out, force)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def _move_into_place(tmp: Path, out: Path, force: bool) -> None:
    if out.is_dir() and any(out.iterdir()) and not force:
        raise OutputExistsError(f"{out} was filled while this run was writing it; pass --force to replace it")
    if out.exists():
        old = temp_sibling(out, directory=True)
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


def check_output_file(path: Path, force: bool, inputs: Iterable = (), flag: str = "--out") -> None:
    """`flag` names the option the path came from in the one-line refusals."""
    path = Path(path)
    refuse_overlap(path, inputs, flag)
    if path.is_dir():
        raise OutputExistsError(f"{path} is a directory")
    if path.exists() and not force:
        raise OutputExistsError(f"{path} exists; pass --force to replace it")
    check_writable(path, flag)


def write_file_atomic(path: Path, data: bytes | str, force: bool) -> Path:
    """Writes a sibling temporary file, then moves it into place: readers never see half a
    file, and without --force a file that appeared meanwhile is never replaced."""
    path = Path(path)
    check_output_file(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(path, directory=False)
    try:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
        publish(tmp, path, force)
    finally:
        tmp.unlink(missing_ok=True)
    return path
