"""Small models several core test modules compile (importable: tests/conftest.py puts this folder on sys.path)."""
from __future__ import annotations

import torch


class Chain(torch.nn.Module):
    """relu(x*w + 1) + x -> sin (no converter in the toy pack) -> relu(z*2 + y): two engines and
    one PyTorch segment between them."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(4))

    def forward(self, x):
        y = torch.relu(x * self.w + 1) + x
        z = torch.sin(y)
        return torch.relu(z * 2 + y)
