"""Pack discovery (pluggy + entry points) and the converter registry.

Names resolve lazily, so reading pack metadata (the CLI) does not import torch.
"""
from __future__ import annotations

import importlib
from typing import Any

from .hookspecs import hookimpl, hookspec
from .info import CORE_API_VERSION, PackInfo, api_compatible

_LAZY = {
    "ConverterSpec": "converters", "Refusal": "converters", "converter": "converters",
    "op_name": "converters", "qualified_op_name": "converters", "specs_of": "converters",
    "ENTRY_POINT_GROUP": "manager", "PackLoadError": "manager", "PackManager": "manager",
    "PackRecord": "manager", "get_manager": "manager", "set_manager": "manager",
    "ConverterRegistry": "registry", "Reason": "registry", "Rejection": "registry", "Selection": "registry",
    "converters_in": "converters", "converters_hook": "declare", "info_hook": "declare",
}

__all__ = ["CORE_API_VERSION", "PackInfo", "api_compatible", "hookimpl", "hookspec", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
