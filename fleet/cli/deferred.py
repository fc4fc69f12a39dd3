"""Imports the command line defers until first use, to keep `fleet`'s start short.

Only `main()` installs these: a program that imports `fleet` as a library keeps its
sys.modules as Python made it.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from importlib.machinery import ModuleSpec

# paramiko (which docker-py imports too) imports invoke at once, but uses it only for
# `Match exec` lines in ~/.ssh/config: ~70 ms of every fleet start, with asyncio and
# unittest.mock behind it.
DEFERRED = ("invoke",)


class ImportOnFirstUse(types.ModuleType):
    """Stands in sys.modules for a module until one of its attributes is first read."""

    def __init__(self, spec: ModuleSpec) -> None:
        super().__init__(spec.name)
        # The real module's spec, so importlib.util.find_spec still answers (it raises on
        # a module whose __spec__ is None). A plain attribute: reading it loads nothing.
        # (importlib's LazyLoader does not help: `import` itself reads the module's
        # __spec__ through the lazy module, which loads it.)
        self.__spec__ = spec

    def __getattr__(self, attribute: str) -> object:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attribute)


def defer_import(name: str) -> None:
    """Put a stand-in for `name` in sys.modules, unless it is imported or not installed."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is not None:
        sys.modules[name] = ImportOnFirstUse(spec)


def defer_unused_imports() -> None:
    for name in DEFERRED:
        defer_import(name)
