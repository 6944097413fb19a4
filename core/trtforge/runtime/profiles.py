"""Choosing an engine's optimization profile by hand (``trtforge.runtime.optimization_profile``).

By default an engine with several profiles runs each call with the first profile whose ranges
hold the input shapes (:meth:`EngineMetadata.select_profile`). Inside this context manager
every engine of the module uses the given profile, and shapes outside it raise
:class:`~trtforge.errors.EngineInputError`; on exit the previous choice comes back.
"""
from __future__ import annotations

from typing import Any

from .modes import engines_of


class _ProfileContext:
    def __init__(self, module: Any, index: int) -> None:
        self.module, self.index = module, int(index)
        self.engines = engines_of(module)
        many = [e for e in self.engines if e.metadata.num_profiles > 1]
        if not many:
            from ..errors import EngineInputError

            raise EngineInputError(
                "optimization_profile(module, index): no engine of this module has several optimization "
                "profiles; compile with trtforge.Input(profiles=[...])"
            )
        self.old = [e.forced_profile for e in self.engines]

    def __enter__(self) -> Any:
        for e in self.engines:
            _force(e, self.index if e.metadata.num_profiles > 1 else None)
        return self.module

    def __exit__(self, *exc: Any) -> None:
        for e, old in zip(self.engines, self.old):
            _force(e, old)


def _force(engine: Any, index: int | None) -> None:
    engine.forced_profile = index
    runner = engine._runner
    if runner is not None:
        runner.forced_profile = index
        if hasattr(runner, "_last_key"):
            runner._last_key = None  # shapes set for the old profile must be set again
    engine.reset_cudagraphs()


def optimization_profile(module: Any, index: int) -> _ProfileContext:
    """Context manager: run every multi-profile engine of ``module`` with profile ``index``."""
    return _ProfileContext(module, index)
