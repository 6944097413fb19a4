"""Runtime modes: CUDA graphs, pre-allocated outputs, output allocator, weight streaming,
multi-device safe mode. The controls users of Torch-TensorRT know, with the same names.

Every context manager restores exactly the state it found, also when the body raises.
Incompatible combinations (output allocator with CUDA graphs or with pre-allocated
outputs) raise :class:`IncompatibleModesError` when the second one is asked for.
"""
from __future__ import annotations

import enum
import operator
from typing import TYPE_CHECKING, Any, Iterator

import torch

from ..errors import IncompatibleModesError, WeightStreamingError

if TYPE_CHECKING:  # pragma: no cover
    from .cudagraphs import CudaGraphsModule
    from .module import TRTEngineModule

__all__ = [
    "CudaGraphsMode",
    "enable_cudagraphs",
    "enable_output_allocator",
    "enable_pre_allocated_outputs",
    "get_cudagraphs_mode",
    "get_multi_device_safe_mode",
    "get_whole_cudagraphs_mode",
    "set_cudagraphs_mode",
    "set_multi_device_safe_mode",
    "weight_streaming",
]


class CudaGraphsMode(enum.IntEnum):
    STANDARD = 0
    #: each engine records and replays its own CUDA graph
    SUBGRAPH = 1
    #: the whole program (engines and PyTorch fallback segments) is one CUDA graph
    WHOLE_GRAPH = 2


_cudagraphs_mode = CudaGraphsMode.STANDARD
_multi_device_safe_mode = False


def set_cudagraphs_mode(mode: bool) -> None:
    """Turn per-engine CUDA graphs on (True) or off (False) for every engine, globally."""
    global _cudagraphs_mode
    _cudagraphs_mode = CudaGraphsMode.SUBGRAPH if mode else CudaGraphsMode.STANDARD


def _set_mode(mode: CudaGraphsMode) -> None:
    global _cudagraphs_mode
    _cudagraphs_mode = CudaGraphsMode(mode)


def _mode() -> CudaGraphsMode:
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


# --- finding the engines of a program ---------------------------------------------------------

def engines_of(module: Any) -> list["TRTEngineModule"]:
    """Every engine a module runs: TRTEngineModule submodules, and the engines of
    ``trtforge::execute_engine`` nodes in a program loaded with plain ``torch.export.load``."""
    from .cudagraphs import CudaGraphsModule
    from .module import TRTEngineModule

    if isinstance(module, CudaGraphsModule):
        module = module.compiled_module
    if isinstance(module, torch.export.ExportedProgram):
        raise TypeError(
            "pass the module, not the ExportedProgram: ep.module(), or load with trtforge.load(path)"
        )
    found: list[TRTEngineModule] = []
    seen: set[int] = set()
    if isinstance(module, torch.nn.Module):
        for m in module.modules():
            if isinstance(m, TRTEngineModule) and id(m) not in seen:
                seen.add(id(m))
                found.append(m)
        if isinstance(module, torch.fx.GraphModule):
            from .ops import engine_module_for_node

            for gm in module.modules():
                if not isinstance(gm, torch.fx.GraphModule):
                    continue
                for node in gm.graph.nodes:
                    m = engine_module_for_node(gm, node)
                    if m is not None and id(m) not in seen:
                        seen.add(id(m))
                        found.append(m)
    return found


_NON_COMPUTE = {operator.getitem}


def has_fallback(module: Any) -> bool:
    """True if the program runs PyTorch code besides its engines (fallback segments)."""
    from .module import TRTEngineModule
    from .ops import is_engine_node

    if isinstance(module, TRTEngineModule):
        return False
    if not isinstance(module, torch.fx.GraphModule):
        return True  # arbitrary Python around the engines
    for node in module.graph.nodes:
        if node.op == "call_module":
            sub = module.get_submodule(node.target)
            if isinstance(sub, TRTEngineModule) or node.target == "_guards_fn":
                continue
            if isinstance(sub, torch.fx.GraphModule) and not has_fallback(sub):
                continue
            return True
        if node.op == "call_method":
            return True
        if node.op == "call_function":
            if is_engine_node(node) or node.target in _NON_COMPUTE:
                continue
            if isinstance(node.target, (torch._ops.OpOverload, torch._ops.OpOverloadPacket)):
                name = node.target.name() if hasattr(node.target, "name") else str(node.target)
                short = name.split("::")[-1]
                if short.startswith(("_assert", "sym_", "_check")):
                    continue
                return True
            # plain Python callables (operator.*, builtins) on sizes are not compute
    return False


# --- context managers --------------------------------------------------------------------------

def _uses_output_allocator(engine: "TRTEngineModule") -> bool:
    return bool(engine.metadata.requires_output_allocator or engine.output_allocator_enabled)


class _CudaGraphsContext:
    def __init__(self, module: Any) -> None:
        self.module = module
        self.old_mode: CudaGraphsMode | None = None
        self.wrapper: "CudaGraphsModule | None" = None
        self.engines: list["TRTEngineModule"] = []

    def __enter__(self) -> Any:
        from .cudagraphs import CudaGraphsModule

        self.engines = engines_of(self.module)
        oa = [e.metadata.name for e in self.engines if _uses_output_allocator(e)]
        if oa:
            raise IncompatibleModesError(
                f"CUDA graphs cannot be used with engines that run with an output allocator "
                f"(data-dependent output shapes or enable_output_allocator): {oa}"
            )
        self.old_mode = _mode()
        if has_fallback(self.module):
            self.wrapper = (self.module if isinstance(self.module, CudaGraphsModule)
                            else CudaGraphsModule(self.module))
            _set_mode(CudaGraphsMode.WHOLE_GRAPH)
            return self.wrapper
        _set_mode(CudaGraphsMode.SUBGRAPH)
        return self.module

    def __exit__(self, *exc: Any) -> None:
        try:
            if self.wrapper is not None:
                self.wrapper.reset()
            for e in self.engines:
                e.reset_cudagraphs()
        finally:
            if self.old_mode is not None:
                _set_mode(self.old_mode)


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
        oa = [e.metadata.name for e in engines if _uses_output_allocator(e)]
        if oa:
            raise IncompatibleModesError(
                f"pre-allocated outputs cannot be used with engines that run with an output allocator "
                f"(data-dependent output shapes or enable_output_allocator): {oa}"
            )

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
        if _mode() != CudaGraphsMode.STANDARD:
            raise IncompatibleModesError(
                "the output allocator cannot be enabled while CUDA graphs are on "
                f"(cudagraphs mode {_mode().name}); leave enable_cudagraphs / set_cudagraphs_mode(False) first"
            )
        pre = [e.metadata.name for e in engines if e.pre_allocated_outputs_enabled]
        if pre:
            raise IncompatibleModesError(
                f"the output allocator cannot be combined with pre-allocated outputs, which are on for {pre}"
            )


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
                f"({len(all_engines)} engine(s) found); compile with weight streaming enabled"
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
