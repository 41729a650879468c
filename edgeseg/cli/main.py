"""Command line: argparse subcommands -> typed config -> API call.

Exit codes: 0 ok, 1 unexpected failure, 2 bad input, 3 no deployable int8 artifact, 130 interrupted.
"""
from __future__ import annotations

import argparse
import sys

from .. import __version__, quiet
from ..errors import EdgesegError
from ..progress import end_open_line, tracked_stdout
from .bench import add_bench_parsers
from .common import data_args, model_args
from .compress import add_compress_parser
from .data import add_data_parsers
from .demo import add_demo_parser
from .deploy import add_deploy_parsers
from .evaluate import add_eval_parser
from .search_worker import add_search_worker_parser
from .train import add_train_parser
from .help import accept_verbose_anywhere, describe_commands, missing_dependency
from .support import OneLineParser, blank_path_option, interrupted_exit, join_dash_values, sigterm_as_interrupt


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="edgeseg", description="edgeseg: take an image-segmentation model to the "
                           "edge: prune, int8-quantize, export TFLite and ONNX, verify, benchmark, deploy")
    parser.add_argument("--version", action="version", version=f"edgeseg {__version__}")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's own start-up and log lines")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    add_train_parser(sub)

    add_eval_parser(sub)
    add_data_parsers(sub)
    add_compress_parser(sub, model_args)

    add_bench_parsers(sub, data_args)

    add_deploy_parsers(sub)
    add_search_worker_parser(sub)
    add_demo_parser(sub)
    describe_commands(sub)
    accept_verbose_anywhere(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["bench", "merge"]:  # `bench PATH...` takes free paths, so merge is routed by hand
        argv = ["bench-merge", *argv[2:]]
    try:
        args = build_parser().parse_args(join_dash_values(argv))
    except SystemExit as exc:  # usage errors (one line, exit 2), --help and --version (exit 0)
        return exc.code if isinstance(exc.code, int) else 2
    blank = blank_path_option(args)
    if blank:
        print(f"edgeseg: error: {blank} is empty; give a file or folder name", file=sys.stderr)
        return 2
    quiet.configure(args.verbose)  # before any command can import TensorFlow
    with tracked_stdout():
        try:
            with sigterm_as_interrupt():
                return args.func(args)
        except ModuleNotFoundError as exc:
            end_open_line()
            print(f"edgeseg: error: {missing_dependency(exc)}", file=sys.stderr)
            return 2
        except EdgesegError as exc:
            end_open_line()
            print(f"edgeseg: error: {' '.join(str(exc).split())}", file=sys.stderr)
            return exc.exit_code
        except KeyboardInterrupt as exc:
            end_open_line()
            return interrupted_exit(exc)


if __name__ == "__main__":
    sys.exit(main())
