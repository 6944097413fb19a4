"""Fixtures of the quantization pack tests."""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # models.py

torchao = pytest.importorskip("torchao", reason="the quantization front ends come from torchao (pip install torchao)")


@pytest.fixture
def quant_pack(trtforge_pack):
    """This pack and the vision pack (the float ops around the quantized ones)."""
    from trtforge_quant import pack as quant
    from trtforge_vision import pack as vision

    trtforge_pack("vision", vision)
    return trtforge_pack("quant", quant)


@pytest.fixture
def transformers_pack(trtforge_pack):
    """The transformers pack too (LLaMA's attention, RMS norm and rotary embedding)."""
    pytest.importorskip("transformers", reason="the LLaMA model comes from transformers")
    from trtforge_transformers import pack as transformers

    return trtforge_pack("transformers", transformers)
