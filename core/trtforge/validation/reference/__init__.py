"""Reference execution of TensorRT networks on CPU with PyTorch.

No TensorRT engine can execute on the project's machines, so tests execute the
*network definition* instead: :func:`run_network` walks an ``INetworkDefinition``
layer by layer and computes every tensor with torch ops following TensorRT's
documented semantics. See ``docs/reference-executor.md``.
"""
from __future__ import annotations

from .executor import (
    ReferenceExecutionError,
    UnsupportedLayerError,
    run_network,
    supported_layer_types,
    torch_dtype,
    trt_dtype,
)

__all__ = [
    "ReferenceExecutionError",
    "UnsupportedLayerError",
    "run_network",
    "supported_layer_types",
    "torch_dtype",
    "trt_dtype",
]
