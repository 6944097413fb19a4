"""Per-engine CUDA graphs (``set_cudagraphs_mode(True)``): one recorded graph per engine and input
shapes, replayed on later calls with the same shapes. Whole-program graphs, fallback segments
included, are :mod:`.cudagraphs`."""
from __future__ import annotations

from typing import Any, Sequence

import torch

from . import state
from .runner import EngineRunner

__all__ = ["EngineGraph"]


class EngineGraph:
    """One engine's recorded CUDA graph and the static buffers it reads and writes."""

    __slots__ = ("key", "graph", "static_inputs", "static_outputs")

    def __init__(self, key: Any, graph: Any, static_inputs: list[torch.Tensor],
                 static_outputs: list[torch.Tensor]) -> None:
        self.key, self.graph = key, graph
        self.static_inputs, self.static_outputs = static_inputs, static_outputs

    @classmethod
    def record(cls, name: str, runner: EngineRunner, inputs: Sequence[torch.Tensor], out_dtypes: Sequence[torch.dtype],
               device: torch.device, stream: Any, key: Any) -> "EngineGraph":
        """Record one run of ``runner`` on copies of ``inputs`` (engine ``name``, for errors)."""
        static_inputs = [t.clone() for t in inputs]
        out_shapes = runner.prepare(static_inputs)
        if any(s is None for s in out_shapes):
            state.check_modes([name], output_allocator="it produced data-dependent output shapes",
                              cudagraphs="a CUDA graph is being recorded")
        static_outputs = [torch.empty(s, dtype=dt, device=device) for s, dt in zip(out_shapes, out_dtypes)]
        # One run outside the capture flushes TensorRT's deferred work (and any lazy init).
        runner.execute(static_inputs, static_outputs, stream)
        graph = torch.cuda.CUDAGraph()
        capture = torch.cuda.Stream(device)
        capture.wait_stream(stream)
        with torch.cuda.graph(graph, stream=capture):
            runner.execute(static_inputs, static_outputs, capture)
        stream.wait_stream(capture)
        return cls(key, graph, static_inputs, static_outputs)

    def replay(self, inputs: Sequence[torch.Tensor], keep_outputs: bool) -> list[torch.Tensor]:
        """Copy ``inputs`` in, replay, and return the outputs: the graph's own buffers with
        ``keep_outputs`` (pre-allocated outputs: overwritten by the next replay), else clones."""
        for static, t in zip(self.static_inputs, inputs):
            static.copy_(t, non_blocking=True)
        self.graph.replay()
        return list(self.static_outputs) if keep_outputs else [o.clone() for o in self.static_outputs]
