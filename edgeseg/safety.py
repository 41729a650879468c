"""Guards for untrusted input and for the outputs edgeseg writes.

Every command calls these before any real work: an output that is, holds or lies inside an
input is refused (even with --force, which would otherwise delete the input); an output is
claimed with an exclusive lock file so two runs on one --out cannot both succeed; numbers
are finite and inside the limits in LIMITS. Nothing here imports TensorFlow.
"""
from __future__ import annotations

import math
import os
import re
import shutil
import socket
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from .errors import OutputExistsError, UsageError

# Upper bounds on every size and time a user can ask for; each message names the limit hit.
LIMITS: dict[str, float] = {
    "--min-time": 3600.0,  # seconds of timed runs per bench row
    "--min-runs": 1_000_000,
    "--warmup": 10_000,
    "--size": 4096,  # data synth image side, pixels
    "--count": 100_000,  # data synth images
    "--epochs": 100_000,
    "--batch-size": 4096,
    "--max-frames": 10_000_000,
    "--threads": 1024,
    "--classes": 255,  # masks are 8-bit class-index images
}
LOCK_SUFFIX = ".edgeseg-lock"
TEMP_MARK = ".edgeseg-tmp-"  # temporary siblings are named .<out name>.edgeseg-tmp-<pid>-<token>
_local = threading.local()  # claims this thread holds, so nested claims of one output are no-ops


def _held() -> dict[Path, int]:
    if not hasattr(_local, "held"):
        _local.held = {}
    return _local.held


def resolved(path: str | os.PathLike) -> Path:
    """An absolute path with links and '..' resolved, whether or not it exists yet."""
    return Path(os.path.abspath(Path(path).expanduser())).resolve()


def overlap(out: str | os.PathLike, given: str | os.PathLike) -> str | None:
    """How the output relates to an input: 'is', 'holds' or 'lies inside'; None if apart."""
    a, b = resolved(out), resolved(given)
    if a == b:
        return "is"
    if a in b.parents:
        return "holds"
    if b in a.parents:
        return "lies inside"
    return None


def refuse_overlap(out: str | os.PathLike, inputs: Iterable[str | os.PathLike | None], flag: str = "--out") -> None:
    """UsageError when `out` is, holds or lies inside any input: --force would replace that input.
    None entries (and the word 'synthetic' or a camera index) are skipped."""
    for given in inputs:
        if given is None or str(given) == "synthetic" or (str(given).isdigit() and not Path(given).exists()):
            continue
        relation = overlap(out, given)
        if relation:
            raise UsageError(f"{flag} {out} {relation} the input {given}; choose an output apart from the "
                             "inputs (refused even with --force, which would replace them)")


def check_writable(out: str | os.PathLike, flag: str = "--out") -> None:
    """Before any work: the nearest existing folder above `out` must be a writable directory."""
    parent = resolved(out).parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"cannot write {flag} {out}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {flag} {out}: {parent} is not writable")


def _lock_path(out: Path) -> Path:
    return out.with_name(f".{out.name}{LOCK_SUFFIX}")


def _owner(lock: Path) -> tuple[str, int] | None:
    try:
        host, pid = lock.read_text().split()
        return host, int(pid)
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _try_lock(lock: Path) -> bool:
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    except OSError as exc:  # read-only file system, no permission, no space: before any work
        raise UsageError(f"cannot write beside {lock.parent}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(f"{socket.gethostname()} {os.getpid()}\n")
    return True


def _acquire(out: Path) -> Path:
    lock = _lock_path(out)
    if _try_lock(lock):
        return lock
    owner = _owner(lock)
    if owner and owner[0] == socket.gethostname() and not _alive(owner[1]):
        lock.unlink(missing_ok=True)  # left by a killed run on this machine
        if _try_lock(lock):
            return lock
    who = f"pid {owner[1]} on {owner[0]}" if owner else "another process"
    raise OutputExistsError(f"another edgeseg run ({who}) is writing {out}; wait for it, or delete {lock} "
                            "if no run is active")


@contextmanager
def claim_output(out: str | os.PathLike, flag: str = "--out") -> Iterator[Path]:
    """Holds an exclusive lock file beside `out` (.<name>.edgeseg-lock) for the whole run, so a
    second run on the same output fails at once with a clear error instead of replacing the
    first one's result. Re-entrant within one process. Creates missing parent folders and
    removes them again if the run fails before writing anything."""
    out = resolved(out)
    if out in _held():
        yield out
        return
    check_writable(out, flag)
    created = _make_parents(out.parent)
    try:
        lock = _acquire(out)
    except BaseException:
        _remove_empty(created)
        raise
    _held()[out] = 1
    try:
        yield out
    finally:
        del _held()[out]
        lock.unlink(missing_ok=True)
        _remove_empty(created)


def holds_claim(out: str | os.PathLike) -> bool:
    return resolved(out) in _held()


def _make_parents(folder: Path) -> list[Path]:
    created = []
    while not folder.exists():
        created.append(folder)
        folder = folder.parent
    for path in reversed(created):
        try:
            path.mkdir()  # the user's umask applies
        except OSError as exc:
            _remove_empty(created)
            raise UsageError(f"cannot create {path}: {exc.strerror}") from None
    return created


def _remove_empty(folders: list[Path]) -> None:
    for path in folders:  # deepest first
        try:
            path.rmdir()
        except OSError:
            return


def temp_sibling(out: Path, directory: bool) -> Path:
    """A new temporary file or folder beside `out`, named so a later run can recognise it
    (.<name>.edgeseg-tmp-<pid>-<token>[suffix]); created with the user's umask."""
    token = os.urandom(4).hex()
    path = out.with_name(f".{out.name}{TEMP_MARK}{os.getpid()}-{token}{'' if directory else out.suffix}")
    if directory:
        os.mkdir(path, 0o777)
    else:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    return path


def sweep_stale_temps(out: Path) -> list[Path]:
    """Removes temporaries a killed run left beside `out`. Only edgeseg's own names for this
    output, only those whose process is gone (same machine), and only while this process holds
    the claim on `out`, so no live run can be writing them."""
    if not holds_claim(out):
        return []
    pattern = re.compile(rf"^\.{re.escape(out.name)}{re.escape(TEMP_MARK)}(\d+)-[0-9a-f]{{8}}")
    swept = []
    for path in out.parent.iterdir():
        found = pattern.match(path.name)
        if found and int(found.group(1)) != os.getpid() and not _alive(int(found.group(1))):
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() and not path.is_symlink() \
                else path.unlink(missing_ok=True)
            swept.append(path)
    return swept


def publish(tmp: Path, out: Path, force: bool) -> None:
    """Moves a finished temporary file into place: without --force it never replaces an
    existing file (a hard link fails if `out` appeared meanwhile), with --force atomically."""
    if force:
        os.replace(tmp, out)
        return
    try:
        os.link(tmp, out)
    except FileExistsError:
        raise OutputExistsError(f"{out} appeared while this run was writing it; pass --force to replace it") from None
    except OSError:  # a file system without hard links: the claim still guards it
        if out.exists():
            raise OutputExistsError(f"{out} exists; pass --force to replace it") from None
        os.replace(tmp, out)
        return
    tmp.unlink()


def finite(name: str, value: float | int | None, low: float | None = None, high: float | None = None,
           low_open: bool = False) -> None:
    """UsageError unless value is a finite number in [low, high] (or (low, high] when low_open)."""
    if value is None:
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise UsageError(f"{name} must be a finite number, got {value!r}")
    high = LIMITS.get(name, high) if high is None else high
    if low is not None and (value <= low if low_open else value < low):
        raise UsageError(f"{name} must be {'>' if low_open else '>='} {low:g}, got {value:g}")
    if high is not None and value > high:
        raise UsageError(f"{name} {value:g} is over the limit of {high:g}")
