"""One exception family. The CLI turns each into a one-line message and an exit code."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type when it has none: foreign
    libraries raise multi-line errors that would break the one-line contract."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def describe(exc: BaseException) -> str:
    """'Type: first line', at most 300 characters, for reports and reasons."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"[:300]


class EdgesegError(Exception):
    """Base class: a problem the user can fix. exit_code is what the CLI returns."""

    exit_code = 2


class UsageError(EdgesegError):
    """A bad option or option combination."""


class DataError(EdgesegError):
    """Missing, unreadable or inconsistent data."""


class ModelError(EdgesegError):
    """A model file that cannot be loaded or is not a segmentation network."""


class OutputExistsError(EdgesegError):
    """An output already exists and --force was not given."""


class NotDeployableError(EdgesegError):
    """compress finished but no int8 artifact met the accuracy budget."""

    exit_code = 3
