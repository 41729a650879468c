"""Compression: pruning, quantization with an accuracy guard, and the compress pipeline.

Calling the package, `edgeseg.compress(model, data=...)`, runs edgeseg.api.compress."""
from ..callable_package import make_callable

make_callable(__name__, "edgeseg.api:compress")
