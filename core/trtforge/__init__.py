"""trtforge: compile PyTorch models to TensorRT engines; converters come from installable packs.

Importing ``trtforge`` is cheap: it imports neither torch, nor a pack, nor
TensorRT, nor a compiler stage; each name loads on first use.
"""
from __future__ import annotations

import importlib
import logging as _logging
from typing import Any

from . import errors as _errors
from .errors import *  # noqa: F403  (the error family is cheap and always importable)
from ._version import __version__
from .plugins.hookspecs import hookimpl, hookspec
from .plugins.info import CORE_API_VERSION, PackInfo

# A library configures no logging: records of the ``trtforge.*`` loggers go where the application
# sends them, and nowhere (not to logging's last-resort stderr handler) when it sends them nowhere.
# ``debug=True`` shows them for the length of a compile (trtforge._logging).
_logging.getLogger(__name__).addHandler(_logging.NullHandler())

#: public name -> (module, attribute)
_LAZY = {
    "compile": ("trtforge.compiler", "compile"),
    "save": ("trtforge.runtime", "save"),
    "refit_module_weights": ("trtforge.refit", "refit_module_weights"),
    "load": ("trtforge.runtime", "load"),
    "converter": ("trtforge.plugins.converters", "converter"),
    "ConverterSpec": ("trtforge.plugins.converters", "ConverterSpec"),
    "Refusal": ("trtforge.plugins.converters", "Refusal"),
    "CompileSettings": ("trtforge.settings", "CompileSettings"),
    "Input": ("trtforge.settings", "Input"),
    "ConversionContext": ("trtforge.conversion.context", "ConversionContext"),
    "CompileReport": ("trtforge.report", "CompileReport"),
}
_SUBMODULES = {"errors", "runtime", "testing", "backend", "conversion", "lowering", "partitioning", "plugins", "cli", "cache", "refit"}

__all__ = ["CORE_API_VERSION", "PackInfo", "__version__", "hookimpl", "hookspec", *_errors.__all__, *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        mod, attr = _LAZY[name]
        value = getattr(importlib.import_module(mod), attr)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"trtforge.{name}")
    raise AttributeError(f"module 'trtforge' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)
