"""rms_norm: with and without weight, default eps, several normalized dims, dynamic and float16."""
from __future__ import annotations

import torch
import torch.nn.functional as F

import trtforge
from trtforge.testing import check_converts

RMS = torch.ops.aten.rms_norm.default


class Norms(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.rand(8) + 0.5, requires_grad=False)

    def forward(self, x):
        return F.rms_norm(x, (8,), self.weight, 1e-5), F.rms_norm(x * 3, (5, 8)), x.sum()


def test_rms_norm():
    x = torch.randn(2, 5, 8, generator=torch.Generator().manual_seed(0))
    check_converts(Norms(), [x], ops=[RMS])
    check_converts(Norms(), [x], ops=[RMS], precision=torch.float16)
    check_converts(Norms(), [trtforge.Input(min_shape=(1, 5, 8), opt_shape=(2, 5, 8), max_shape=(6, 5, 8))], ops=[RMS])
