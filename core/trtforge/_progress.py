"""Stage names for a progress display: the compiler says what it is doing, a listener shows it.

The compiler calls :func:`stage` at the start of each long step ("lowering", "building engine
_run_on_acc_0 (1/3)"); without a listener that costs one context-variable lookup. The CLI listens
and puts the name on its spinner, so a long step is never an unnamed wait.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator

_listener: ContextVar[Callable[[str], None] | None] = ContextVar("trtforge_progress", default=None)


def stage(name: str) -> None:
    """Announce the step that starts now."""
    listener = _listener.get()
    if listener is not None:
        listener(name)


@contextmanager
def listening(callback: Callable[[str], None]) -> Iterator[None]:
    """Call ``callback(name)`` for every stage announced inside the block (this thread/context)."""
    token = _listener.set(callback)
    try:
        yield
    finally:
        _listener.reset(token)
