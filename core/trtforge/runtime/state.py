"""Runtime mode state, and the one rule of which modes combine.

The CUDA graph mode and the multi-device safe mode are process-wide switches (the
names users of Torch-TensorRT know); per-engine flags (pre-allocated outputs, output
allocator) live on each :class:`~trtforge.runtime.TRTEngineModule`. Every place that
turns a mode on, or runs an engine, asks :func:`check_modes` whether the combination
is allowed, so the rule and its wording exist once.
"""
from __future__ import annotations

import enum
from typing import Any, Iterable

from ..errors import IncompatibleModesError

__all__ = [
    "CudaGraphsMode",
    "check_modes",
    "check_no_output_allocator",
    "get_cudagraphs_mode",
    "get_multi_device_safe_mode",
    "get_whole_cudagraphs_mode",
    "output_allocator_reason",
    "set_cudagraphs_mode",
    "set_multi_device_safe_mode",
]


class CudaGraphsMode(enum.IntEnum):
    STANDARD = 0
    #: each engine records and replays its own CUDA graph
    SUBGRAPH = 1
    #: the whole program (engines and PyTorch fallback segments) is one CUDA graph
    WHOLE_GRAPH = 2


_cudagraphs_mode = CudaGraphsMode.STANDARD
_multi_device_safe_mode = False


def check_modes(engines: Iterable[str], *, output_allocator: str | None, cudagraphs: str | None = None,
                pre_allocated: str | None = None) -> None:
    """Raise :class:`IncompatibleModesError` unless the modes asked for combine.

    The rule: an output allocator (asked for, or needed by data-dependent output shapes)
    combines with neither CUDA graphs (per-engine or whole-program) nor pre-allocated
    outputs; everything else combines. ``output_allocator`` says why ``engines`` use one
    (None: they do not); ``cudagraphs`` / ``pre_allocated`` say where that mode comes from
    (None: it is off). The texts go into the message.
    """
    if output_allocator is None:
        return
    for mode, source in (("CUDA graphs", cudagraphs), ("pre-allocated outputs", pre_allocated)):
        if source is not None:
            raise IncompatibleModesError(
                f"{mode} cannot be used with engines that run with an output allocator "
                f"({output_allocator}): {sorted(engines)}; {source}. An output allocator is incompatible "
                "with CUDA graphs and with pre-allocated outputs: leave one of the two modes"
            )


def check_no_output_allocator(engines: Iterable[Any], mode: str, source: str) -> None:
    """:func:`check_modes` for a mode (``"cudagraphs"`` or ``"pre_allocated"``) asked of many engines."""
    reasons = {e.metadata.name: output_allocator_reason(e) for e in engines}
    users = [name for name, why in reasons.items() if why]
    if users:
        why = " / ".join(sorted({reasons[n] for n in users}))  # type: ignore[arg-type]
        check_modes(users, output_allocator=why, **{mode: source})


def output_allocator_reason(engine: Any) -> str | None:
    """Why ``engine`` (a TRTEngineModule) runs with an output allocator, or None if it does not."""
    if engine.metadata.requires_output_allocator:
        return "its output shapes are data-dependent"
    if engine.output_allocator_enabled:
        return "enable_output_allocator is on"
    return None


def set_cudagraphs_mode(mode: bool) -> None:
    """Turn per-engine CUDA graphs on (True) or off (False) for every engine, globally."""
    global _cudagraphs_mode
    _cudagraphs_mode = CudaGraphsMode.SUBGRAPH if mode else CudaGraphsMode.STANDARD


def set_mode(mode: CudaGraphsMode) -> None:
    global _cudagraphs_mode
    _cudagraphs_mode = CudaGraphsMode(mode)


def mode() -> CudaGraphsMode:
    return _cudagraphs_mode


def get_cudagraphs_mode() -> bool:
    """True while engines record/replay their own CUDA graphs (per-engine mode)."""
    return _cudagraphs_mode == CudaGraphsMode.SUBGRAPH


def get_whole_cudagraphs_mode() -> bool:
    """True while a whole-program CUDA graph wrapper is active (program with fallback segments)."""
    return _cudagraphs_mode == CudaGraphsMode.WHOLE_GRAPH


def get_multi_device_safe_mode() -> bool:
    return _multi_device_safe_mode


class _MultiDeviceSafeMode:
    """Returned by :func:`set_multi_device_safe_mode`; as a context manager it restores the old state."""

    def __init__(self, mode: bool) -> None:
        global _multi_device_safe_mode
        self.old = _multi_device_safe_mode
        self.mode = bool(mode)
        _multi_device_safe_mode = self.mode

    def __enter__(self) -> "_MultiDeviceSafeMode":
        return self

    def __exit__(self, *exc: Any) -> None:
        global _multi_device_safe_mode
        _multi_device_safe_mode = self.old

    def __bool__(self) -> bool:
        return self.mode

    def __repr__(self) -> str:
        return f"set_multi_device_safe_mode({self.mode}) (was {self.old})"


def set_multi_device_safe_mode(mode: bool) -> _MultiDeviceSafeMode:
    """Check, on every call, that each engine runs on its own device, switching to it if needed.

    Takes effect at once (a plain function call). Used as ``with
    set_multi_device_safe_mode(True): ...`` it restores the previous state on exit.
    When on, inputs on another device are moved to the engine's device and the
    current CUDA device is switched to it for the call; when off (the default,
    cheaper), inputs on the wrong device or a wrong current device raise
    :class:`EngineInputError`.
    """
    return _MultiDeviceSafeMode(mode)
