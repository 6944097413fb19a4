"""The output allocator: TensorRT asks it for the memory of outputs whose shapes are known only
once the engine runs (data-dependent shapes), and it hands out torch-allocated memory."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # pragma: no cover
    from types import ModuleType

__all__ = ["output_allocator_class"]

Shape = tuple[int, ...]

_OUTPUT_ALLOCATOR_CLASSES: dict[int, type] = {}


def output_allocator_class(trt: "ModuleType") -> type:
    """An IOutputAllocator that hands TensorRT torch-allocated memory and records shapes."""
    cls = _OUTPUT_ALLOCATOR_CLASSES.get(id(trt))
    if cls is not None:
        return cls

    class TorchOutputAllocator(trt.IOutputAllocator):  # type: ignore[misc, name-defined]
        def __init__(self, device: torch.device) -> None:
            trt.IOutputAllocator.__init__(self)
            self.device = device
            self.buffers: dict[str, torch.Tensor] = {}
            self.shapes: dict[str, Shape] = {}

        def reallocate_output_async(self, tensor_name: str, memory: int, size: int, alignment: int,
                                    stream: int) -> int:
            # Called from execute_async_v3 on the enqueue thread, with the stream the
            # engine runs on, which is torch's current stream: the caching allocator's
            # memory is stream-ordered on it. A fresh buffer per call: the last one was
            # handed to the caller as an output.
            buf = torch.empty(max(int(size), 1), dtype=torch.uint8, device=self.device)
            self.buffers[tensor_name] = buf
            return buf.data_ptr()

        def reallocate_output(self, tensor_name: str, memory: int, size: int, alignment: int) -> int:
            return self.reallocate_output_async(tensor_name, memory, size, alignment, 0)

        def notify_shape(self, tensor_name: str, shape: Any) -> None:
            self.shapes[tensor_name] = tuple(int(d) for d in shape)

        def take(self, name: str, dtype: torch.dtype) -> torch.Tensor:
            shape = self.shapes.pop(name)
            buf = self.buffers.pop(name)
            n = math.prod(shape)
            return buf[: n * torch.empty((), dtype=dtype).element_size()].view(dtype).reshape(shape)

    _OUTPUT_ALLOCATOR_CLASSES[id(trt)] = TorchOutputAllocator
    return TorchOutputAllocator
