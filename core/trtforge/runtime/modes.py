"""The runtime modes' context managers: CUDA graphs, pre-allocated outputs, output allocator,
weight streaming. The controls users of Torch-TensorRT know, with the same names.

Every context manager restores exactly the state it found, also when the body raises.
Incompatible combinations (:func:`~trtforge.runtime.state.check_modes`) raise
:class:`IncompatibleModesError` when the second one is asked for. The global switches
live in :mod:`trtforge.runtime.state`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

from ..errors import WeightStreamingError
from .program import engines_of, has_fallback
from .state import CudaGraphsMode, check_modes, check_no_output_allocator, mode, set_mode

if TYPE_CHECKING:  # pragma: no cover
    from .cudagraphs import CudaGraphsModule
    from .module import TRTEngineModule

__all__ = ["enable_cudagraphs", "enable_output_allocator", "enable_pre_allocated_outputs", "weight_streaming"]


# --- context managers --------------------------------------------------------------------------

class _CudaGraphsContext:
    def __init__(self, module: Any) -> None:
        self.module = module
        self.old_mode: CudaGraphsMode | None = None
        self.wrapper: "CudaGraphsModule | None" = None
        self.engines: list["TRTEngineModule"] = []

    def __enter__(self) -> Any:
        from .cudagraphs import CudaGraphsModule

        self.engines = engines_of(self.module)
        check_no_output_allocator(self.engines, "cudagraphs", "enable_cudagraphs asks for them")
        self.old_mode = mode()
        if has_fallback(self.module):
            self.wrapper = (self.module if isinstance(self.module, CudaGraphsModule)
                            else CudaGraphsModule(self.module))
            set_mode(CudaGraphsMode.WHOLE_GRAPH)
            return self.wrapper
        set_mode(CudaGraphsMode.SUBGRAPH)
        return self.module

    def __exit__(self, *exc: Any) -> None:
        try:
            if self.wrapper is not None:
                self.wrapper.reset()
            for e in self.engines:
                e.reset_cudagraphs()
        finally:
            if self.old_mode is not None:
                set_mode(self.old_mode)


def enable_cudagraphs(module: Any) -> _CudaGraphsContext:
    """Run ``module`` with CUDA graphs inside a ``with`` block; returns the module to call.

    A program made only of engines gets per-engine graphs (each engine records on
    its first call and again whenever its input shapes change; the module itself
    is returned). A program with PyTorch fallback segments is wrapped in a
    :class:`CudaGraphsModule` that records the whole program (engines and fallback
    segments) as one graph, re-recorded on new input shapes::

        with trtforge.runtime.enable_cudagraphs(compiled) as m:
            out = m(x)

    On exit the previous mode is restored and recorded graphs are freed.
    """
    return _CudaGraphsContext(module)


class _EngineFlagContext:
    """Sets one boolean attribute on every engine of a module; restores the old values on exit."""

    attr = ""

    def __init__(self, module: Any) -> None:
        self.module = module
        self.old: list[tuple["TRTEngineModule", bool]] = []
        self.old_wrapper: bool | None = None

    def check(self, engines: list["TRTEngineModule"]) -> None:  # pragma: no cover - overridden
        pass

    def __enter__(self) -> Any:
        engines = engines_of(self.module)
        self.check(engines)
        self.old = [(e, getattr(e, self.attr)) for e in engines]
        try:
            for e, _ in self.old:
                e._set_flag(self.attr, True)
            self._enter_extra()
        except BaseException:
            self._restore()
            raise
        return self.module

    def _enter_extra(self) -> None:
        pass

    def _restore(self) -> None:
        for e, value in reversed(self.old):
            e._set_flag(self.attr, value)

    def __exit__(self, *exc: Any) -> None:
        self._restore()


class _PreAllocatedOutputsContext(_EngineFlagContext):
    attr = "pre_allocated_outputs_enabled"

    def check(self, engines: list["TRTEngineModule"]) -> None:
        check_no_output_allocator(engines, "pre_allocated", "enable_pre_allocated_outputs asks for them")

    def _enter_extra(self) -> None:
        from .cudagraphs import CudaGraphsModule

        if isinstance(self.module, CudaGraphsModule):
            self.old_wrapper = self.module.pre_allocated_outputs
            self.module.pre_allocated_outputs = True

    def _restore(self) -> None:
        super()._restore()
        if self.old_wrapper is not None:
            self.module.pre_allocated_outputs = self.old_wrapper


def enable_pre_allocated_outputs(module: Any) -> _PreAllocatedOutputsContext:
    """Inside the ``with`` block, engines write their outputs into buffers kept between calls.

    This saves an allocation per output and call, but **the tensors a call returns
    are overwritten in place by the next call with the same input shapes**: clone
    them if you keep them. A new input shape allocates new buffers. Cannot be
    combined with an output allocator.
    """
    return _PreAllocatedOutputsContext(module)


class _OutputAllocatorContext(_EngineFlagContext):
    attr = "output_allocator_enabled"

    def check(self, engines: list["TRTEngineModule"]) -> None:
        names = [e.metadata.name for e in engines]
        if mode() != CudaGraphsMode.STANDARD:
            check_modes(names, output_allocator="enable_output_allocator asks for it", cudagraphs=(
                f"CUDA graphs are on (cudagraphs mode {mode().name}); leave enable_cudagraphs / "
                "set_cudagraphs_mode(False) first"))
        pre = [e.metadata.name for e in engines if e.pre_allocated_outputs_enabled]
        if pre:
            check_modes(pre, output_allocator="enable_output_allocator asks for it",
                        pre_allocated="they are on for these engines")


def enable_output_allocator(module: Any) -> _OutputAllocatorContext:
    """Inside the ``with`` block, every engine allocates its outputs through an output allocator
    (``IOutputAllocator``: TensorRT asks for memory once output sizes are known). Engines with
    data-dependent output shapes always do. Cannot be combined with CUDA graphs or pre-allocated outputs."""
    return _OutputAllocatorContext(module)


class _WeightStreamingContext:
    """Returned by :func:`weight_streaming`: read/set the device budget of the module's engines.

    ``total_device_budget``: bytes of streamable weights of all weight-streaming engines.
    ``device_budget``: bytes of them kept on the device now; setting it splits the budget
    across the engines in proportion to their streamable sizes.
    """

    def __init__(self, module: Any) -> None:
        self.module = module
        self.engines: list["TRTEngineModule"] = []
        self.old: list[int] = []

    def __enter__(self) -> "_WeightStreamingContext":
        all_engines = engines_of(self.module)
        self.engines = [e for e in all_engines if e.metadata.weight_streaming]
        if not self.engines:
            raise WeightStreamingError(
                "weight_streaming(module): no engine of this module was built with weight streaming "
                f"({len(all_engines)} engine(s) found); compile with enable_weight_streaming=True"
            )
        self.old = [e._runner_or_create().weight_streaming_budget for e in self.engines]
        return self

    def __exit__(self, *exc: Any) -> None:
        for e, budget in zip(self.engines, self.old):
            runner = e._runner_or_create()
            if runner.weight_streaming_budget != budget:
                runner.set_weight_streaming_budget(budget)
                e.reset_cudagraphs()

    def _sizes(self) -> list[int]:
        return [e._runner_or_create().streamable_weights_size for e in self.engines]

    @property
    def total_device_budget(self) -> int:
        return sum(self._sizes())

    @property
    def device_budget(self) -> int:
        return sum(e._runner_or_create().weight_streaming_budget for e in self.engines)

    @device_budget.setter
    def device_budget(self, nbytes: int) -> None:
        sizes = self._sizes()
        total = sum(sizes)
        nbytes = int(nbytes)
        if not 0 <= nbytes <= total:
            raise WeightStreamingError(
                f"device_budget must be between 0 and total_device_budget={total} bytes, got {nbytes}"
            )
        left = nbytes
        for i, (e, size) in enumerate(zip(self.engines, sizes)):
            share = left if i == len(sizes) - 1 else (nbytes * size // total if total else 0)
            share = min(share, size)
            left -= share
            e._runner_or_create().set_weight_streaming_budget(share)
            e.reset_cudagraphs()

    def get_automatic_weight_streaming_budget(self) -> int:
        return sum(e._runner_or_create().automatic_weight_streaming_budget() for e in self.engines)

    def __iter__(self) -> Iterator["TRTEngineModule"]:
        return iter(self.engines)


def weight_streaming(module: Any) -> _WeightStreamingContext:
    """Control the weight-streaming budget of engines built with weight streaming::

        with trtforge.runtime.weight_streaming(compiled) as ws:
            ws.device_budget = ws.total_device_budget // 2
            out = compiled(x)

    The budgets found on entry are restored on exit (recorded CUDA graphs are re-recorded).
    """
    return _WeightStreamingContext(module)
