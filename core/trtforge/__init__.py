"""trtforge: compile PyTorch models to TensorRT engines; converters come from installable packs.

Importing ``trtforge`` is cheap: it imports torch, but no pack, no TensorRT and
none of the compiler stages. Those load on first use.
"""
from __future__ import annotations

from typing import Any

from ._version import __version__
from .plugins import (
    CORE_API_VERSION,
    ConverterSpec,
    PackInfo,
    Refusal,
    converter,
    hookimpl,
    hookspec,
)
from .settings import CompileSettings, Input

__all__ = [
    "CORE_API_VERSION", "CompileSettings", "ConverterSpec", "Input", "PackInfo", "Refusal",
    "__version__", "compile", "converter", "hookimpl", "hookspec", "load", "save",
]

_LAZY = {
    "compile": ("trtforge.compiler", "compile"),
    "save": ("trtforge.runtime", "save"),
    "load": ("trtforge.runtime", "load"),
    "ConversionContext": ("trtforge.conversion.context", "ConversionContext"),
    "CompileReport": ("trtforge.report", "CompileReport"),
}


def __getattr__(name: str) -> Any:
    # compile/save/load import their stage modules on first use (keeps start-up light;
    # a runtime-only program never imports the compiler).
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        value = getattr(importlib.import_module(mod), attr)
        globals()[name] = value
        return value
    if name in {"runtime", "testing", "backend", "conversion", "lowering", "partitioning"}:
        import importlib

        return importlib.import_module(f"trtforge.{name}")
    raise AttributeError(f"module 'trtforge' has no attribute {name!r}")
