"""What every command line run shares: one-line argparse errors, option values that look
like negative numbers, and SIGTERM handled like Ctrl-C (so outputs are cleaned up)."""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from contextlib import contextmanager

# Options whose values may start with '-' (argparse would take `--normalize -1-1` for two options).
DASH_VALUE_OPTIONS = ("--normalize",)


# Options naming a file or folder: an empty value would become Path('') == '.', the working folder.
PATH_OPTIONS = ("out", "json", "csv", "md", "data", "baseline", "bench", "custom_objects")


def blank_path_option(args: argparse.Namespace) -> str | None:
    """The first path option given as an empty (or all-blank) string, as '--name', or None."""
    for name in PATH_OPTIONS:
        value = getattr(args, name, None)
        if isinstance(value, str) and not value.strip():
            return "--" + name.replace("_", "-")
    return None


class OneLineParser(argparse.ArgumentParser):
    """argparse, except that a usage error is one line ('edgeseg train: error: ...') and exit 2,
    as the README promises for every bad input; --help is unchanged."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def join_dash_values(argv: list[str]) -> list[str]:
    """['--normalize', '-1-1'] -> ['--normalize=-1-1'], so the README's spelling works."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in DASH_VALUE_OPTIONS and i + 1 < len(argv) and argv[i + 1].startswith("-") \
                and not argv[i + 1].startswith("--"):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so every `finally` and output cleanup runs."""


def _raise_terminated(signum, frame):
    raise Terminated()


@contextmanager
def sigterm_as_interrupt():
    """While a command runs, SIGTERM unwinds like Ctrl-C (only possible in the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupted_exit(exc: KeyboardInterrupt) -> int:
    name = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
    print(f"edgeseg: {name}; nothing was left half-written", file=sys.stderr)
    return 143 if isinstance(exc, Terminated) else 130
