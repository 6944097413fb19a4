"""A model mixing data-dependent ops with ordinary ones (whose converters come from the vision pack).

Full TensorRT: the whole model is one engine, marked requires_output_allocator,
validated exactly by reference execution. TensorRT-RTX: exactly the NonZero-based
ops fall back, with the capability table's reason; the rest builds real engines.
"""
from __future__ import annotations

import pytest
import torch

from trtforge.plugins.manager import get_manager
from trtforge.plugins.registry import Reason
from trtforge.testing import check_converts

DDS = {"aten::index.Tensor", "aten::_unique2.default", "aten::nonzero.default", "aten::masked_select.default"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        "vision" not in {r.name for r in get_manager().loaded()},
        reason="the mixed model's gt/sum/mean/cast/add/index_select converters come from trtforge-vision",
    ),
]


class Mixed(torch.nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor):
        stats = x[x > 0].sum() + torch.unique(y).float().mean()
        rows = x.index_select(0, torch.nonzero(x[:, 0] > 0).squeeze(1))  # nonzero feeding a gather
        return stats, rows, torch.masked_select(x, x < -1)


def _inputs():
    gen = torch.Generator().manual_seed(7)
    return [torch.randn(6, 4, generator=gen), torch.randint(0, 5, (16,), generator=gen)]


def test_mixed_model_is_one_engine_on_full_tensorrt():
    r = check_converts(Mixed(), _inputs(), target_backend="tensorrt", rtol=0.0, ops=sorted(DDS))
    (engine,) = r.report.engines
    assert engine.requires_output_allocator
    assert engine.validation["max_abs_err"] == 0.0
    assert not r.report.fallback


def test_mixed_model_on_rtx_falls_back_for_exactly_the_dds_ops():
    r = check_converts(Mixed(), _inputs(), rtol=0.0, allow_fallback=sorted(DDS))
    assert {f.op for f in r.report.fallback} == DDS
    for f in r.report.fallback:
        assert f.category == Reason.BACKEND.value and "no runner for NonZero" in f.reason
    assert r.built and all(e.status == "built" and not e.requires_output_allocator for e in r.report.engines)
