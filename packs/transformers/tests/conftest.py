"""Fixtures of the transformers pack tests."""
from __future__ import annotations

import pytest
from trtforge.testing import module_from


@pytest.fixture
def module():
    """``module(fn)``: an ``nn.Module`` whose forward calls ``fn``."""
    return module_from
