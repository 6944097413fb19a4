"""Advanced indexing and the scatter family: index with several tensors, index_put, index_copy,
index_add, scatter (src, value, reduce), scatter_add, scatter_reduce, slice_scatter, select_scatter, copy."""
from __future__ import annotations

import pytest
import torch

import trtforge

from trtforge.testing import check_converts

aten = torch.ops.aten


def _x(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _i(high, *shape, seed=0):
    return torch.randint(0, high, shape, generator=torch.Generator().manual_seed(seed))


def _named(spec, dim=0):
    """The same Input with its dynamic dimension named, for inputs the model ties together."""
    return trtforge.Input(min_shape=spec.min_shape, opt_shape=spec.opt_shape, max_shape=spec.max_shape,
                          dtype=spec.dtype, dim_names={dim: "n"})


def test_index_with_several_tensors(fn_module, dynamic_input):
    """Adjacent tensors keep their place; a None slice between them puts the broadcast dims first
    (torch's rule); negative and broadcast indices; the mask[batch_idx, kv_idx] pattern of transformers."""
    def f(m, x, i, j):
        return (x[i, j], x[:, i, j], x[i, :, j], x[i[:, None], j[None, :]], x[m.neg, 1:2, m.neg],
                x[..., i, j] * 2)

    m = fn_module(f, neg=torch.tensor([-1, 0, -3]))
    i, j = torch.tensor([0, 2, 1]), torch.tensor([3, 0, 3])
    ops = [aten.index.Tensor]
    check_converts(m, [_x(3, 4, 4), i, j], ops=ops)
    check_converts(m, [dynamic_input((3, 4, 4), dims=(1, 2), lo=4, hi=6), i, j], ops=ops)


def test_attention_mask_lookup(fn_module, dynamic_input):
    """``mask[batch_idx, kv_idx]`` on a bool mask with index tensors computed from arange."""
    def f(m, mask):
        b = torch.arange(mask.shape[0])[:, None]
        kv = torch.arange(mask.shape[1])[None, :]
        return mask[b, kv] & (kv <= 4)

    mask = _i(2, 2, 6).bool()
    check_converts(fn_module(f), [mask], ops=[aten.index.Tensor])
    check_converts(fn_module(f), [dynamic_input((2, 6), dims=(0, 1), lo=2, dtype=torch.bool)], ops=[aten.index.Tensor])


def test_index_put(fn_module, dynamic_input):
    """Put with broadcast values, accumulate with duplicate indices (which must add up), a mask put."""
    def f(m, x, v):
        a = torch.index_put(x, (m.i, m.j), v)
        b = torch.index_put(x, (m.dup,), x[:3] * 2, accumulate=True)
        c = torch.index_put(x, (m.i, m.j), torch.tensor(5.0), accumulate=True)
        d = x.clone()
        d[x > 0.5] = -1.0
        e = x.clone()
        e[:, m.j] = 0.0
        return a, b, c, d, e

    m = fn_module(f, i=torch.tensor([0, 2, 1]), j=torch.tensor([1, 1, 3]), dup=torch.tensor([1, 0, 1]))
    ops = [aten.index_put.default]
    check_converts(m, [_x(3, 4, 5), _x(5, seed=1)], ops=ops)
    check_converts(m, [dynamic_input((3, 4, 5), dims=(2,), lo=2), dynamic_input((5,), lo=2)], ops=ops)


def test_index_copy_index_add(fn_module, dynamic_input):
    def f(m, x, s):
        return x.index_copy(1, m.i, s), x.index_add(1, m.dup, s, alpha=2), x.index_add(1, m.dup, s.to(x.dtype))

    m = fn_module(f, i=torch.tensor([2, 0, 3]), dup=torch.tensor([1, 1, 3]))
    ops = [aten.index_copy.default, aten.index_add.default]
    check_converts(m, [_x(2, 5, 3), _x(2, 3, 3, seed=1)], ops=ops)
    check_converts(m, [_named(dynamic_input((2, 5, 3))), _named(dynamic_input((2, 3, 3)))], ops=ops)


def test_integer_index_add(fn_module):
    m = fn_module(lambda m, x: x.index_add(0, m.i, x[:2] + 1), i=torch.tensor([3, 3]))
    check_converts(m, [_i(9, 4, 3)], ops=[aten.index_add.default])


def test_scatter_src_value_and_reduce(fn_module, dynamic_input):
    """The index may be smaller than the input and src larger than the index (torch reads src[:index])."""
    def f(m, x, s):
        return (x.scatter(1, m.perm, s), x.scatter(1, m.small, 7.0), x.scatter(1, m.small, s, reduce="add"),
                x.scatter(0, m.rows, s[:2], reduce="multiply"), x.scatter(1, m.small, 2.0, reduce="multiply"))

    m = fn_module(f, perm=torch.tensor([[2, 0, 1, 3]]).expand(3, 4).contiguous(),
                  small=torch.tensor([[1, 1], [0, 3]]), rows=torch.tensor([[2, 1, 2, 0], [2, 0, 1, 1]]))
    ops = [aten.scatter.src, aten.scatter.value, aten.scatter.reduce, aten.scatter.value_reduce]
    check_converts(m, [_x(3, 4), _x(3, 4, seed=1)], ops=ops)
    check_converts(m, [_named(dynamic_input((3, 4), lo=3, hi=5)), _named(dynamic_input((3, 4), lo=3, hi=5))], ops=ops)


@pytest.mark.parametrize("reduce", ["sum", "prod", "amax", "amin", "mean"])
def test_scatter_reduce(fn_module, dynamic_input, reduce):
    def f(m, x, s):
        return (x.scatter_reduce(1, m.idx, s, reduce), x.scatter_reduce(1, m.idx, s, reduce, include_self=False),
                torch.scatter_add(x, 1, m.idx, s))

    m = fn_module(f, idx=torch.tensor([[0, 0, 2, 4, 0], [1, 1, 1, 0, 3]]))
    ops = [aten.scatter_reduce.two, aten.scatter_add.default]
    check_converts(m, [_x(2, 5), _x(2, 5, seed=1)], ops=ops)
    spec = dict(dims=(1,), lo=5, hi=7)
    check_converts(m, [_named(dynamic_input((2, 5), **spec), 1), _named(dynamic_input((2, 5), **spec), 1)], ops=ops)


def test_integer_scatter_reduce_mean(fn_module):
    m = fn_module(lambda m, x: x.scatter_reduce(0, m.idx, x * 3, "mean"), idx=torch.tensor([0, 0, 2, 2, 2]))
    check_converts(m, [_i(9, 5)], ops=[aten.scatter_reduce.two])


def test_slice_and_select_scatter(fn_module, dynamic_input):
    def f(m, x):
        n = x.shape[0]
        return (torch.slice_scatter(x, x[:, 1:3] * 2, 1, 1, 3), torch.slice_scatter(x, x[:, ::2] + 1, 1, 0, None, 2),
                torch.select_scatter(x, x[:, -1] * 0, 1, -1), torch.select_scatter(x, x[0] + 5, 0, 0),
                torch.slice_scatter(x, x[n - 1:] * 3, 0, n - 1))

    ops = [aten.slice_scatter.default, aten.select_scatter.default]
    check_converts(fn_module(f), [_x(3, 5)], ops=ops)
    check_converts(fn_module(f), [dynamic_input((3, 5), lo=2)], ops=ops)


def test_copy(fn_module, dynamic_input):
    """``copy_`` (functionalized to aten.copy): broadcast and cast to the destination."""
    def f(m, x, i):
        y = torch.zeros_like(x)
        y.copy_(i[:, None])
        return y * 2, aten.copy.default(i.to(torch.float32), x[0, :4]) + 1

    ops = [aten.copy.default]
    check_converts(fn_module(f), [_x(4, 5), _i(9, 4)], ops=ops)
    check_converts(fn_module(f), [dynamic_input((4, 5), dims=(1,), lo=4), _i(9, 4)], ops=ops)


def test_searchsorted(fn_module, dynamic_input):
    def f(m, v):
        return (torch.searchsorted(m.edges, v), torch.searchsorted(m.edges, v, right=True),
                torch.searchsorted(m.rows, v[:2], side="right", out_int32=True), torch.bucketize(v, m.edges))

    m = fn_module(f, edges=torch.tensor([-1.0, 0.0, 0.5, 0.5, 2.0]), rows=torch.sort(_x(2, 6, seed=3)).values)
    v = torch.tensor([[-2.0, 0.5, 0.1], [3.0, -1.0, 0.0]])
    check_converts(m, [v], ops=[aten.searchsorted.Tensor, aten.bucketize.Tensor])
    check_converts(m, [dynamic_input((2, 3), dims=(1,))], ops=[aten.searchsorted.Tensor])


def test_searchsorted_scalar(fn_module):
    m = fn_module(lambda m, x: x + torch.searchsorted(x.exp().cumsum(0), 1.7))  # a sorted run-time sequence
    check_converts(m, [_x(3)], ops=[aten.searchsorted.Scalar])
