"""Small models of the quantization tests (random init, nothing downloaded)."""
from __future__ import annotations

import torch
from torch import nn


class ConvNet(nn.Module):
    """Convolution, activation, pooling and a linear head: what PT2E quantizes in a CNN."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2)
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.conv1(x))
        y = torch.relu(self.conv2(y)).mean((2, 3))
        return self.head(y)


class DecoderBlock(nn.Module):
    """A LLaMA-style decoder layer (RMS norm, causal attention, SiLU-gated MLP), written by hand.

    Stands in for a transformers LLaMA until a transformers pack is on main; its linear layers
    are what weight-only quantization replaces.
    """

    def __init__(self, dim: int = 128, heads: int = 4, hidden: int = 256) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.RMSNorm(dim)
        self.norm2 = nn.RMSNorm(dim)
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim, bias=False) for _ in range(4))
        self.gate = nn.Linear(dim, hidden, bias=False)
        self.up = nn.Linear(dim, hidden, bias=False)
        self.down = nn.Linear(hidden, dim, bias=False)

    def _split(self, t: torch.Tensor) -> torch.Tensor:
        b, s, d = t.shape
        return t.reshape(b, s, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        q, k, v = self._split(self.q(h)), self._split(self.k(h)), self._split(self.v(h))
        a = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.o(a.transpose(1, 2).reshape(x.shape))
        h = self.norm2(x)
        return x + self.down(torch.nn.functional.silu(self.gate(h)) * self.up(h))


class Decoder(nn.Module):
    def __init__(self, layers: int = 2, dim: int = 128) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(DecoderBlock(dim) for _ in range(layers)))
        self.norm = nn.RMSNorm(dim)
        self.lm_head = nn.Linear(dim, 256, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lm_head(self.norm(self.blocks(x)))
