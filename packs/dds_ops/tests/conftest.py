"""Fixtures of the dds_ops tests: modules made from plain functions, seeded random data."""
from __future__ import annotations

from typing import Callable

import pytest
import torch


class _Fn1(torch.nn.Module):
    # torch.export needs named forward arguments (not *args) to attach dynamic shapes
    def __init__(self, fn: Callable) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, a):
        return self.fn(a)


class _Fn2(_Fn1):
    def forward(self, a, b):
        return self.fn(a, b)


class _Fn3(_Fn1):
    def forward(self, a, b, c):
        return self.fn(a, b, c)


class _Fn4(_Fn1):
    def forward(self, a, b, c, d):
        return self.fn(a, b, c, d)


_ARITY = {1: _Fn1, 2: _Fn2, 3: _Fn3, 4: _Fn4}


@pytest.fixture
def module() -> Callable[..., torch.nn.Module]:
    """``module(fn)``: an ``nn.Module`` whose forward calls ``fn`` with its 1-4 inputs."""
    import inspect

    def make(fn: Callable) -> torch.nn.Module:
        return _ARITY[len(inspect.signature(fn).parameters)](fn)

    return make


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(1234)
