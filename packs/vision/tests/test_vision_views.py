"""Strided views (diagonal, as_strided), pairwise distances (cdist, pdist), prims ops, inference dropout
and the refusal of random ops."""
from __future__ import annotations

import torch

import trtforge
from trtforge.testing import check_converts

aten = torch.ops.aten
prims = torch.ops.prims


def _x(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_diagonal(fn_module, dynamic_input):
    def f(m, x):
        return (torch.diagonal(x, 0, 1, 2), torch.diagonal(x, 1, 1, 2), torch.diagonal(x, -2, 2, 1),
                torch.diagonal(x, 0, -1, 1), x.diagonal(dim1=1, dim2=2).sum(-1))

    check_converts(fn_module(f), [_x(2, 4, 5)], ops=[aten.diagonal.default])
    check_converts(fn_module(f), [dynamic_input((2, 4, 5))], ops=[aten.diagonal.default])


def test_as_strided(fn_module):
    """Contiguous strides are a slice and a reshape; overlapping windows are a constant-index gather."""
    def f(m, x):
        return x.as_strided((3, 4), (4, 1), 2) * 2, x.as_strided((4, 3), (2, 1)) + 1, x.as_strided((2, 2, 2), (1, 6, 3))

    check_converts(fn_module(f), [_x(4, 5)], ops=[aten.as_strided.default])


def test_as_strided_of_a_dynamic_input_is_refused(fn_module, dynamic_input):
    report = trtforge.compile(fn_module(lambda m, x: x.as_strided((2, 2), (1, 2)) + 1),
                              [dynamic_input((4, 5), lo=2)], min_block_size=1, dryrun=True)
    [entry] = [f for f in report.fallback if f.op == "aten::as_strided.default"]
    assert "dynamic sizes, strides or input shape" in entry.reason


def test_as_strided_beyond_the_packs_element_limit_is_refused(fn_module):
    """The limit is the pack's own (the gather index table is an engine constant), not TensorRT's."""
    from trtforge_vision.converters.views import AS_STRIDED_MAX_ELEMENTS

    rows = AS_STRIDED_MAX_ELEMENTS // 64 + 1  # stride 0 repeats one row: a large view of a small input
    report = trtforge.compile(fn_module(lambda m, x: x.as_strided((rows, 64), (0, 1)) + 1),
                              [_x(64)], min_block_size=1, dryrun=True)
    [entry] = [f for f in report.fallback if f.op == "aten::as_strided.default"]
    assert f"as_strided of {rows * 64} elements" in entry.reason and str(AS_STRIDED_MAX_ELEMENTS) in entry.reason


def test_cdist_pdist(fn_module, dynamic_input):
    def f(m, a, b):
        return (torch.cdist(a, b), torch.cdist(a, b, p=1.0), aten._cdist_forward.default(a, b, 3.0, None),
                torch.cdist(a, b, p=float("inf")), torch.cdist(a, b, p=0.0), torch.nn.functional.pdist(b[0]),
                aten._pdist_forward.default(b[0], 1.0))

    ops = [aten.cdist.default, aten._cdist_forward.default, aten.pdist.default, aten._pdist_forward.default]
    check_converts(fn_module(f), [_x(2, 3, 4), _x(2, 5, 4, seed=1).round()], ops=ops)
    check_converts(fn_module(f), [dynamic_input((2, 3, 4), dims=(1,)), _x(2, 5, 4, seed=1)], ops=ops)


def test_prims_ops(fn_module, dynamic_input):
    def f(m, x, i):
        return (prims.sum.default(x, [1]), prims.div.default(x, x + 3), prims.div.default(i, m.d),
                prims.broadcast_in_dim.default(x[0, :, 0], [x.shape[0], 3, 4], [1]) + m.v[:, None])

    m = fn_module(f, d=torch.tensor([3, -3, 2, -2]), v=_x(3))
    i = torch.tensor([7, 7, -7, -8])
    ops = [prims.sum.default, prims.div.default, prims.broadcast_in_dim.default]
    check_converts(m, [_x(2, 3, 4), i], ops=ops)
    check_converts(m, [dynamic_input((2, 3, 4)), i], ops=ops)


def test_native_dropout_in_eval(fn_module, dynamic_input):
    def f(m, x):
        y, keep = aten.native_dropout.default(x, 0.3, False)
        return y * 2, keep & (x > 0)

    check_converts(fn_module(f), [_x(2, 3)], ops=[aten.native_dropout.default])
    check_converts(fn_module(f), [dynamic_input((2, 3))], ops=[aten.native_dropout.default])


def test_random_ops_are_refused_clearly(fn_module):
    """rand/randn/randperm stay in PyTorch with a reason that says why (not 'write a converter'), and the
    rest of the model still converts."""
    def f(m, x):
        return (x * 2 + torch.rand_like(x) + torch.randn(3) + torch.randperm(3).float()) * 3

    out = trtforge.compile(fn_module(f), [_x(3)], min_block_size=1)
    report = out.trtforge_report
    ops = {f.op for f in report.fallback}
    assert ops == {"aten::rand_like.default", "aten::randn.default", "aten::randperm.default"}, ops
    assert all("random" in f.category and "cannot reproduce" in f.reason for f in report.fallback)
    assert report.engines and report.converted_nodes >= 2
