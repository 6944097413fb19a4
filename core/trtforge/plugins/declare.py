"""Hook implementations in one line each, for the pack whose hooks only say who it is and
where its converters are (most packs):

.. code-block:: python

    # file: my_pack/pack.py  (the module the entry point names)
    from trtforge.plugins import converters_hook, info_hook

    trtforge_pack_info = info_hook(api_version="1.1")
    trtforge_register_converters = converters_hook("my_pack.converters")

They make the same hook functions a pack would write by hand (``@trtforge.hookimpl``), so the
core treats both alike; a pack with more to say writes its hooks itself.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

from .hookspecs import hookimpl
from .info import PackInfo

__all__ = ["converters_hook", "info_hook"]


def info_hook(**fields: Any) -> Callable[[], PackInfo]:
    """A ``trtforge_pack_info`` hook returning ``PackInfo(**fields)`` (left-out fields come from
    the distribution's metadata: see :class:`~trtforge.PackInfo`)."""
    info = PackInfo(**fields)

    def trtforge_pack_info() -> PackInfo:
        return info

    return hookimpl(trtforge_pack_info)


def converters_hook(*modules: str) -> Callable[[Callable[..., None]], None]:
    """A ``trtforge_register_converters`` hook registering every converter of the named modules
    (or packages), imported when the pack loads, not when Python starts."""
    if not modules or not all(isinstance(m, str) and m and not m.startswith(".") for m in modules):
        raise TypeError(f"converters_hook takes absolute module names such as 'my_pack.converters', not {modules!r}")

    def trtforge_register_converters(register: Callable[..., None]) -> None:
        for name in modules:
            register(importlib.import_module(name))

    return hookimpl(trtforge_register_converters)
