"""Benchmarking: any artifact on any available runtime, interleaved, with Dice and size.

Calling the package, `edgeseg.bench(paths, config)`, runs edgeseg.bench.run.bench."""
from ..callable_package import make_callable

make_callable(__name__, "edgeseg.bench.run:bench")
