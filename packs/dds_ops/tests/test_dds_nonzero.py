"""nonzero, nonzero(as_tuple=True) and where(cond): exact indices, checked by reference execution.

NonZero does not build on TensorRT-RTX, so these networks are made for full
TensorRT (target_backend="tensorrt", build=False) and executed by the CPU
reference executor; rtol=0: indices must be equal, not close.
"""
from __future__ import annotations

import pytest
import torch

import trtforge
from trtforge import Input
from trtforge.testing import check_converts

NZ = "aten::nonzero.default"


def _convert(model, inputs, **kw):
    return check_converts(model, inputs, target_backend="tensorrt", rtol=0.0, **kw)


def test_nonzero_dtypes(module, gen):
    """float32 with zeros, -0.0 and NaN (non-zero), float16, int64, uint8 and bool: one engine."""
    f = torch.randn(3, 5, generator=gen)
    f[f.abs() < 0.5] = 0.0
    f[0, 0], f[1, 1] = -0.0, float("nan")
    h = torch.randn(4, 4, generator=gen).half().clamp(min=0)
    i = torch.randint(-2, 3, (9,), generator=gen)
    u = torch.randint(0, 3, (2, 3, 4), generator=gen).to(torch.uint8)
    m = module(lambda a, b, c, d: (torch.nonzero(a), torch.nonzero(b), torch.nonzero(c), torch.nonzero(d)))
    r = _convert(m, [f, h, i, u], ops=[NZ])
    assert [e.requires_output_allocator for e in r.report.engines] == [True]
    assert r.networks[0].output_dtypes == [torch.int64] * 4


@pytest.mark.parametrize("fill", [False, True], ids=["all_false", "all_true"])
def test_nonzero_empty_and_full(module, fill):
    mask = torch.full((3, 4), fill)
    r = _convert(module(lambda a, b: (torch.nonzero(a), torch.nonzero(b))), [mask, mask.float()], ops=[NZ])
    assert r.report.engines[0].validation["max_abs_err"] == 0.0


def test_nonzero_as_tuple_and_where(module, gen):
    mask = torch.rand(2, 3, 4, generator=gen) > 0.5
    r = _convert(
        module(lambda a: (*torch.nonzero(a, as_tuple=True), *torch.where(a))), [mask],
        ops=["aten::nonzero_numpy.default", "aten::where.default"],
    )
    assert len(r.networks[0].output_names) == 6


def test_nonzero_dynamic(module):
    r = _convert(
        module(lambda a: torch.nonzero(a)),
        [Input(min_shape=(1, 4), opt_shape=(3, 4), max_shape=(6, 4), dtype=torch.int32)], ops=[NZ],
    )
    assert r.report.engines[0].validation["shape_sets"] == 3


def test_tuple_forms_dynamic(module):
    spec = Input(min_shape=(1, 2), opt_shape=(3, 4), max_shape=(6, 5), dtype=torch.bool)
    _convert(module(lambda a: torch.nonzero(a, as_tuple=True)), [spec], ops=["aten::nonzero_numpy.default"])
    _convert(module(lambda a: torch.where(a)), [spec], ops=["aten::where.default"])


def test_nonzero_of_scalar_is_refused_with_reason(module):
    rep = trtforge.compile(module(lambda a: torch.nonzero(a)), [torch.tensor(1.0)], min_block_size=1,
                           target_backend="tensorrt", dryrun=True)
    (entry,) = [f for f in rep.fallback if f.op == NZ]
    assert "capability validator" in entry.category and "0-d input" in entry.reason
