"""What every sub-command's --help shows, and the one line for a missing dependency."""
from __future__ import annotations

import argparse

SETUP = "python3 -m venv .venv && .venv/bin/pip install -e . , then run .venv/bin/edgeseg"


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows real defaults only: "(default: None)" beside an option that is off unless given
    says nothing, and contradicts help texts that say what happens then."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def describe_commands(subparsers: argparse._SubParsersAction) -> None:
    """Each sub-command's help opens with what it does (its one-line summary) and shows every
    option's default; nested sub-commands (`data synth`) too."""
    summaries = {action.dest: action.help for action in subparsers._choices_actions}
    for name, parser in subparsers.choices.items():
        parser.formatter_class = DefaultsFormatter
        parser.description = parser.description or summaries.get(name)
        for action in parser._actions:
            # argparse prints no help (so no default) for an option whose help is empty or blank.
            if not (action.help or "").strip() and action.default not in (None, False, argparse.SUPPRESS):
                action.help = "default: %(default)s"
            if isinstance(action, argparse._SubParsersAction):
                describe_commands(action)


def missing_dependency(exc: ModuleNotFoundError) -> str:
    name = exc.name or str(exc)
    return f"a dependency is missing ({name!r} cannot be imported): set up edgeseg first: {SETUP}"


def accept_verbose_anywhere(subparsers: argparse._SubParsersAction) -> None:
    """`edgeseg compress M --verbose` as well as `edgeseg --verbose compress M`; SUPPRESS keeps
    a sub-command from resetting the flag given before it."""
    for parser in subparsers.choices.values():
        parser.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                            help="show TensorFlow's own start-up and log lines")
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                accept_verbose_anywhere(action)
