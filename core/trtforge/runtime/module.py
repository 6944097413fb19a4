"""The module that holds one TensorRT engine and runs it inside PyTorch."""
from __future__ import annotations

import torch

from .metadata import EngineMetadata


class TRTEngineModule(torch.nn.Module):
    """One engine plus its metadata. ``engine`` is None for networks compiled with build=False."""

    def __init__(self, engine: bytes | None, metadata: EngineMetadata) -> None:
        super().__init__()
        self.metadata = metadata
        self.serialized_engine = engine

    def forward(self, *inputs: torch.Tensor):
        if self.serialized_engine is None:
            raise RuntimeError(
                f"engine {self.metadata.name!r} was compiled with build=False: it holds a checked "
                "TensorRT network but no engine; compile with build=True to run it"
            )
        raise RuntimeError("engine execution is not implemented yet")
