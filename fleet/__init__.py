"""fleet: provision fleets of Raspberry Pi and Jetson robots from one laptop."""

import importlib
import importlib.util
import sys
import types

__version__ = "0.1.0"


class _ImportOnFirstUse(types.ModuleType):
    """Stands in sys.modules for a module until one of its attributes is first read."""

    def __getattr__(self, attribute: str) -> object:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attribute)


def _defer_import(name: str) -> None:
    # paramiko (which docker-py imports too) imports invoke at once, but uses it only for
    # `Match exec` lines in ~/.ssh/config: ~70 ms of every fleet start, with asyncio and
    # unittest.mock behind it. (importlib's LazyLoader does not help: `import` itself
    # reads the module's __spec__, which loads it.)
    if name not in sys.modules and importlib.util.find_spec(name) is not None:
        sys.modules[name] = _ImportOnFirstUse(name)


_defer_import("invoke")
