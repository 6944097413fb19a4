"""Logging of a compile: one logger per stage under ``trtforge``, shown only when asked for.

Every stage logs what it did to ``logging.getLogger("trtforge.<stage>")``: its start at DEBUG,
its end at INFO with the elapsed time and what it counted (nodes, partitions, engines, bytes).
TensorRT's own messages go to ``trtforge.tensorrt`` (:mod:`trtforge.backend.trt_logger`).
Like any library, trtforge configures no logging and adds no handler to the root logger (only
the ``NullHandler`` of the ``trtforge`` logger, set up in ``trtforge/__init__.py``): the
application chooses what is shown, e.g. ``logging.basicConfig(level=logging.INFO)``. Logging
that nobody listens to costs one level check per record.

``debug=True`` is the shortcut: for as long as a stage of such a compile runs, one handler on the
``trtforge`` logger writes every record at DEBUG and above to stderr. It is attached once, however
many stages or compiles nest, and removed (the logger's level restored) when the last one ends.
"""
from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

__all__ = ["DebugHandler", "StageLog", "debug_output", "logged_stage"]

ROOT = "trtforge"
_FORMAT = "%(asctime)s.%(msecs)03d %(name)s %(levelname)s: %(message)s"

_lock = threading.Lock()
_users = 0
_handler: logging.Handler | None = None
_level_before = logging.NOTSET


class DebugHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler ``debug=True`` attaches to the ``trtforge`` logger (stderr, level DEBUG)."""


@contextmanager
def debug_output(enabled: bool) -> Iterator[None]:
    """Show the ``trtforge`` loggers' records on stderr while the block runs (if ``enabled``)."""
    if not enabled:
        yield
        return
    _attach()
    try:
        yield
    finally:
        _detach()


def _attach() -> None:
    global _users, _handler, _level_before
    with _lock:
        if _users == 0:
            logger = logging.getLogger(ROOT)
            _handler = DebugHandler()  # sys.stderr as it is now (a test's capture, a CLI's redirect)
            _handler.setLevel(logging.DEBUG)
            _handler.setFormatter(logging.Formatter(_FORMAT, "%H:%M:%S"))
            _level_before = logger.level
            logger.setLevel(logging.DEBUG)
            logger.addHandler(_handler)
        _users += 1


def _detach() -> None:
    global _users, _handler
    with _lock:
        _users -= 1
        if _users == 0 and _handler is not None:
            logger = logging.getLogger(ROOT)
            logger.removeHandler(_handler)
            logger.setLevel(_level_before)
            _handler.close()
            _handler = None


class StageLog:
    """What one stage says about its work: :meth:`note` counts in the block; they are logged,
    with the elapsed time, when it ends."""

    def __init__(self, name: str, doing: str) -> None:
        self.logger = logging.getLogger(f"{ROOT}.{name}")
        self.doing = doing
        self.facts: dict[str, Any] = {}

    def note(self, **facts: Any) -> None:
        """Record counts (``nodes=12``, ``engine_bytes=...``) for the stage's closing line."""
        self.facts.update(facts)

    def summary(self) -> str:
        return "".join(f", {k}={v}" for k, v in self.facts.items())


@contextmanager
def logged_stage(name: str, doing: str, debug: bool = False) -> Iterator[StageLog]:
    """Log the block as stage ``name`` to ``trtforge.<name>`` (shown on stderr with ``debug``)."""
    st = StageLog(name, doing)
    with debug_output(debug):
        st.logger.debug("%s: started", doing)
        t = time.perf_counter()
        try:
            yield st
        except BaseException as exc:
            first = str(exc).strip().splitlines()[:1]
            st.logger.info("%s: failed after %.3f s%s (%s%s)", doing, time.perf_counter() - t, st.summary(),
                           type(exc).__name__, f": {first[0]}" if first else "")
            raise
        st.logger.info("%s: done in %.3f s%s", doing, time.perf_counter() - t, st.summary())
