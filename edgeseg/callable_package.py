"""A package that can also be called as the public function of the same name.

`edgeseg.compress` and `edgeseg.bench` are both packages and, in the public API, functions.
Python binds a package to its parent's attribute when the package is first imported, which
would replace the function: `edgeseg.compress(...)` would then fail after any
`import edgeseg.compress.something`. Making the package module itself callable keeps both
meanings, whatever the import order."""
from __future__ import annotations

import importlib
import inspect
import sys
import types


def make_callable(package: str, target: str) -> None:
    """Calling the module `package` calls `target` ("module:function"), imported on first call."""
    module_name, function = target.split(":")
    package_doc = sys.modules[package].__dict__.get("__doc__") or ""

    def target_function():
        return getattr(importlib.import_module(module_name), function)

    class CallablePackage(types.ModuleType):
        def __call__(self, *args, **kwargs):
            return target_function()(*args, **kwargs)

        @property
        def __signature__(self):  # inspect.signature(edgeseg.compress) shows the real parameters
            return inspect.signature(target_function())

        @property
        def __doc__(self):  # help(edgeseg.compress) documents the call first, then the package
            function = target_function()
            return (f"{package}{inspect.signature(function)}\n\n{inspect.getdoc(function) or ''}\n\n"
                    f"The package:\n{package_doc}")

    sys.modules[package].__class__ = CallablePackage
