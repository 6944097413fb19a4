"""Fixtures of the dds_ops tests: modules made from plain functions, seeded random data."""
from __future__ import annotations

from typing import Callable

import pytest
import torch

from trtforge.testing import module_from


@pytest.fixture
def module() -> Callable[[Callable], torch.nn.Module]:
    """``module(fn)``: an ``nn.Module`` whose forward calls ``fn`` (the test kit's ``module_from``)."""
    return module_from


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(1234)
