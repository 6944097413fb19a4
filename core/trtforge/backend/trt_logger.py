"""TensorRT's log, bridged into :mod:`logging`: the one TensorRT logger of the process.

TensorRT keeps one logger per process: while any builder, runtime or refitter exists, a
different logger passed to a new one is ignored ("The logger passed into createInferBuilder
differs from one already registered ... the current new logger is ignored"), and its messages
go to the first. So trtforge makes exactly one per backend module and hands it to every
builder (compile time), runtime and refitter (run time): :func:`logger_for`.

Its messages go to ``logging.getLogger("trtforge.tensorrt")`` with their severity mapped to a
logging level, so an application sees them like any other library's, through the handlers it
configured (or through ``debug=True``, which shows the ``trtforge`` loggers for the length of a
compile). Error messages are also kept (``.errors``, the latest :data:`KEEP_ERRORS`):
ConversionError, BuildError and the runtime errors quote TensorRT's own words. A caller takes
``mark = len(logger.errors)`` before a call and reads ``logger.errors[mark:]`` after it: the
errors that call caused, whatever came before.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from types import ModuleType
from typing import Any, Iterator

__all__ = ["KEEP_ERRORS", "LOGGER_NAME", "RecentErrors", "level_of", "logger_for"]

#: the logger TensorRT's messages go to
LOGGER_NAME = "trtforge.tensorrt"
#: how many of TensorRT's latest error messages are kept for error reports
KEEP_ERRORS = 100
_log = logging.getLogger(LOGGER_NAME)

#: TensorRT severity name -> logging level
_LEVELS = {
    "INTERNAL_ERROR": logging.ERROR,
    "ERROR": logging.ERROR,
    "WARNING": logging.WARNING,
    "INFO": logging.INFO,
    "VERBOSE": logging.DEBUG,
}

#: the logger of each TensorRT module (full TensorRT and TensorRT-RTX can both be loaded), stored
#: with the module it was made for (an id alone could be reused by another module)
_LOGGERS: dict[int, tuple[ModuleType, Any]] = {}
_lock = threading.Lock()


class RecentErrors:
    """The latest error messages, indexed as if every one were kept: ``len()`` counts all that
    were ever logged, so ``errors[mark:]`` is what came after ``mark = len(errors)``; slices reach
    back over the last ``keep`` only (a logger that lives as long as the process stays small)."""

    def __init__(self, keep: int = KEEP_ERRORS) -> None:
        self._kept: deque[str] = deque(maxlen=keep)
        self._count = 0
        self._lock = threading.Lock()

    def append(self, message: str) -> None:
        with self._lock:
            self._kept.append(str(message))
            self._count += 1

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int | slice) -> Any:
        with self._lock:
            first = self._count - len(self._kept)  # absolute index of the oldest message kept
            if isinstance(index, slice):
                return [self._kept[i - first] for i in range(*index.indices(self._count)) if i >= first]
            i = index + self._count if index < 0 else index
            if not first <= i < self._count:
                raise IndexError(f"error {index} is not kept (the last {self._kept.maxlen} are)")
            return self._kept[i - first]

    def __iter__(self) -> Iterator[str]:
        return iter(self[:])

    def __eq__(self, other: object) -> bool:
        return list(self) == other if isinstance(other, list) else NotImplemented

    def __repr__(self) -> str:
        return f"RecentErrors({list(self)!r}, count={self._count})"


def level_of(mod: ModuleType, severity: Any) -> int:
    """The logging level of TensorRT ``severity`` (an ``ILogger.Severity`` of module ``mod``)."""
    return _levels(mod).get(int(severity), logging.DEBUG)


def _levels(mod: ModuleType) -> dict[int, int]:
    members = mod.ILogger.Severity.__members__
    return {int(members[name]): level for name, level in _LEVELS.items() if name in members}


def logger_for(mod: ModuleType) -> Any:
    """The TensorRT logger of backend module ``mod`` (made on first use, then the same one)."""
    made = _LOGGERS.get(id(mod))
    if made is None or made[0] is not mod:
        with _lock:
            made = _LOGGERS.get(id(mod))
            if made is None or made[0] is not mod:
                made = _LOGGERS[id(mod)] = (mod, _logger_class(mod)())
    return made[1]


def _logger_class(mod: ModuleType) -> type:
    levels = _levels(mod)

    class LoggingBridge(mod.ILogger):  # type: ignore[misc, name-defined]
        """Forwards every TensorRT message to ``trtforge.tensorrt``; keeps the latest errors."""

        def __init__(self) -> None:
            mod.ILogger.__init__(self)
            self.errors = RecentErrors()

        def log(self, severity: Any, msg: str) -> None:
            level = levels.get(int(severity), logging.DEBUG)
            if level >= logging.ERROR:
                self.errors.append(msg)
            if _log.isEnabledFor(level):  # a builder says ~60 things per engine: cheap when off
                _log.log(level, "%s", msg)

    LoggingBridge.__qualname__ = f"LoggingBridge[{mod.__name__}]"
    return LoggingBridge
