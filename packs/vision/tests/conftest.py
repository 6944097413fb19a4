"""Fixtures of the vision pack tests."""
from __future__ import annotations

import pytest
import torch


class Fn(torch.nn.Module):
    """Wrap a function of the inputs as a module (export needs one)."""

    def __init__(self, fn, **params):
        super().__init__()
        self.fn = fn
        for k, v in params.items():
            setattr(self, k, torch.nn.Parameter(v, requires_grad=False) if isinstance(v, torch.Tensor) else v)

    def forward(self, a, b=None, c=None, d=None):
        # explicit parameters: torch.export matches dynamic_shapes to them (a *args forward would not)
        return self.fn(self, *[v for v in (a, b, c, d) if v is not None])


@pytest.fixture
def fn_module():
    """``fn_module(lambda m, x: ..., weight=tensor)``: a module whose parameters the lambda reads as ``m.<name>``."""
    return Fn


def dyn(shape, dims=(0,), lo=1, hi=None, dtype=torch.float32):
    """A trtforge.Input whose ``dims`` range over [min(lo, opt), opt, hi or 2*opt] (opt is the given size)."""
    import trtforge

    mn, mx = list(shape), list(shape)
    for d in dims:
        mn[d] = min(lo, shape[d])
        mx[d] = hi or shape[d] * 2
    return trtforge.Input(min_shape=tuple(mn), opt_shape=tuple(shape), max_shape=tuple(mx), dtype=dtype)


@pytest.fixture
def dynamic_input():
    return dyn
