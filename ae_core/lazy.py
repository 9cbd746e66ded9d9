"""Lazy re-exports for the packages whose modules import TensorFlow.

``ae_core.models`` and ``ae_core.training`` re-export their public names so that callers
write ``from ae_core.training import train`` rather than reach into a module. Importing
those names eagerly would load TensorFlow (seconds, hundreds of MB) in every process that
touches the package, the Streamlit server included, which never trains. So such a package
names where each export lives, and the name is imported on first use (PEP 562).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, tuple[str, ...]]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """Build a package's ``__getattr__``, ``__dir__`` and ``__all__``.

    Args:
        package: the package's ``__name__``.
        exports: module name (relative to the package) -> the names it exports.

    Returns:
        ``(__getattr__, __dir__, __all__)`` to assign at the package's top level.
    """
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)  # found once; later look-ups are plain attributes
        return value

    def __dir__() -> list[str]:
        return sorted(set(where) | set(vars(sys.modules[package])))

    return __getattr__, __dir__, sorted(where)
