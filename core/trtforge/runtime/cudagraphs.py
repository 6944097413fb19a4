"""Whole-program CUDA graphs: one graph for the engines and the PyTorch fallback segments."""
from __future__ import annotations

from typing import Any

import torch
from torch.utils import _pytree as pytree

from ..errors import IncompatibleModesError, TRTForgeRuntimeError
from .state import check_no_output_allocator

__all__ = ["CudaGraphsModule"]


class CudaGraphsModule(torch.nn.Module):
    """Wraps a compiled program so that each call replays one recorded CUDA graph.

    The first call (and every call with new input shapes, dtypes or devices)
    warms the program up on a side stream, then records it, engines and fallback
    segments together; later calls copy the inputs into the recorded input
    buffers and replay on the current stream. Outputs are cloned out of the
    graph's buffers unless pre-allocated outputs are on (then the returned
    tensors are overwritten by the next call). Returned by
    :func:`trtforge.runtime.enable_cudagraphs` for programs with fallback segments.
    """

    def __init__(self, compiled_module: torch.nn.Module, warmup_iters: int = 1) -> None:
        super().__init__()
        self.compiled_module = compiled_module
        self.warmup_iters = int(warmup_iters)
        self.pre_allocated_outputs = False
        self._key: Any = None
        self._graph: Any = None
        self._static_in: list[torch.Tensor] = []
        self._static_args: Any = None
        self._static_out: Any = None

    def reset(self) -> None:
        """Free the recorded graph; the next call records again."""
        if self._graph is not None:
            self._graph.reset()
        self._graph, self._key = None, None
        self._static_in, self._static_args, self._static_out = [], None, None

    def _check(self) -> None:
        from .program import engines_of

        check_no_output_allocator(engines_of(self.compiled_module), "cudagraphs", "the whole program is one CUDA graph")

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        leaves, spec = pytree.tree_flatten((args, kwargs))
        tensors = [x for x in leaves if isinstance(x, torch.Tensor)]
        if not tensors:
            raise TRTForgeRuntimeError("CudaGraphsModule needs at least one tensor input")
        for t in tensors:
            if t.device.type != "cuda":
                raise IncompatibleModesError(
                    f"whole-program CUDA graphs need CUDA inputs, got a tensor on {t.device}"
                )
        key = (spec, tuple(
            (tuple(x.shape), x.dtype, x.device) if isinstance(x, torch.Tensor) else ("const", x)
            for x in leaves
        ))
        if self._graph is None or key != self._key:
            self.reset()
            self._record(leaves, spec, key)
        for static, t in zip(self._static_in, tensors):
            static.copy_(t, non_blocking=True)
        self._graph.replay()
        if self.pre_allocated_outputs:
            return self._static_out
        return pytree.tree_map(lambda x: x.clone() if isinstance(x, torch.Tensor) else x, self._static_out)

    def _record(self, leaves: list[Any], spec: Any, key: Any) -> None:
        self._check()
        device = next(x.device for x in leaves if isinstance(x, torch.Tensor))
        static_leaves = [x.clone() if isinstance(x, torch.Tensor) else x for x in leaves]
        self._static_in = [x for x in static_leaves if isinstance(x, torch.Tensor)]
        args, kwargs = pytree.tree_unflatten(static_leaves, spec)
        stream = torch.cuda.current_stream(device)
        side = torch.cuda.Stream(device)
        side.wait_stream(stream)
        with torch.cuda.stream(side):
            for _ in range(self.warmup_iters):
                self.compiled_module(*args, **kwargs)
        stream.wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                out = self.compiled_module(*args, **kwargs)
        except IncompatibleModesError:
            raise
        except Exception as exc:
            raise TRTForgeRuntimeError(
                "recording the program as one CUDA graph failed; a PyTorch fallback segment probably "
                "does something a CUDA graph cannot hold (a host synchronization, .item(), a "
                f"data-dependent shape). Use the program without CUDA graphs. Cause: {exc}"
            ) from exc
        self._graph, self._key, self._static_args, self._static_out = graph, key, (args, kwargs), out
