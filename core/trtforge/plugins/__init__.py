"""Pack discovery (pluggy + entry points) and the converter registry."""
from .converters import ConverterSpec, Refusal, converter, op_name, qualified_op_name
from .hookspecs import hookimpl, hookspec
from .manager import (
    CORE_API_VERSION,
    ENTRY_POINT_GROUP,
    PackInfo,
    PackLoadError,
    PackManager,
    PackRecord,
    get_manager,
    set_manager,
)
from .registry import ConverterRegistry, Reason, Rejection, Selection

__all__ = [
    "CORE_API_VERSION", "ENTRY_POINT_GROUP", "ConverterRegistry", "ConverterSpec", "PackInfo",
    "PackLoadError", "PackManager", "PackRecord", "Reason", "Refusal", "Rejection", "Selection",
    "converter", "get_manager", "hookimpl", "hookspec", "op_name", "qualified_op_name", "set_manager",
]
