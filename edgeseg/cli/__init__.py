"""The command line: argparse sub-commands -> typed config -> API call."""
from .main import build_parser, main

__all__ = ["build_parser", "main"]
