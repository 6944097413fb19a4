"""Reductions, arg/max with indices, softmax/log_softmax, cumsum."""
from __future__ import annotations

import torch

import trtforge
from trtforge.testing import check_converts

aten = torch.ops.aten


def _x(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_sum_mean_prod_amax_amin(fn_module, dynamic_input):
    def f(m, x):
        return (x.sum(1), x.sum(), x.sum((0, 2), keepdim=True), x.mean(), x.mean((-1, -2)), x.prod(2),
                x.prod(), x.amax((1, 2)), x.amin(-1, keepdim=True), x.max(), x.min(),
                (x > 0).sum(1), (x > 0).to(torch.int32).sum(-1), x.sum(1, dtype=torch.float16))

    ops = [aten.sum.dim_IntList, aten.sum.default, aten.mean.dim, aten.mean.default, aten.prod.dim_int,
           aten.prod.default, aten.amax.default, aten.amin.default, aten.max.default, aten.min.default]
    check_converts(fn_module(f), [_x(3, 4, 5)], ops=ops)
    check_converts(fn_module(f), [dynamic_input((3, 4, 5), dims=(0, 2))], ops=ops)


def test_var_std(fn_module, dynamic_input):
    def f(m, x):
        return (x.var(1), x.std(-1, keepdim=True), x.var(), x.var((0, 2), correction=0), x.std(unbiased=False),
                torch.var_mean(x, 1), torch.var_mean(x, (1, 2), keepdim=True, correction=0))

    ops = [aten.var.correction, aten.std.correction, aten.var_mean.correction]
    check_converts(fn_module(f), [_x(3, 4, 5) * 4 + 2], ops=ops)
    # lo=2: a variance over one element divides by zero (NaN in torch, and NaN never validates)
    check_converts(fn_module(f), [dynamic_input((3, 4, 5), dims=(0, 2), lo=2)], ops=ops)


def test_var_half_precision(fn_module):
    check_converts(fn_module(lambda m, x: (x.var(-1), x.mean(-1))), [_x(4, 64) * 10 + 100], precision=torch.float16)


def test_any_all(fn_module, dynamic_input):
    def f(m, x):
        b = x > 0.5
        return b.any(), b.any(1), b.all(0), (x > -3).all(), b.any(-1, True)

    ops = [aten.any.default, aten.any.dim, aten.all.dim, aten.all.default]
    check_converts(fn_module(f), [_x(3, 4)], ops=ops)
    check_converts(fn_module(f), [dynamic_input((3, 4))], ops=ops)


def test_any_all_over_several_dims(fn_module, dynamic_input):
    m = fn_module(lambda m, x: (aten.any.dims(x > 0.5, [0, 1]), aten.all.dims(x > -2, [1], True)))
    check_converts(m, [_x(3, 4, 2)], ops=[aten.any.dims, aten.all.dims])
    check_converts(m, [dynamic_input((3, 4, 2))], ops=[aten.any.dims, aten.all.dims])


def test_argmax_argmin_and_max_with_indices(fn_module, dynamic_input):
    def f(m, x):
        v, i = x.max(1)
        w, j = x.min(-1, keepdim=True)
        return x.argmax(1), x.argmin(), x.argmax(-1, keepdim=True), x.argmax(keepdim=True), v, i, w, j

    ops = [aten.argmax.default, aten.argmin.default, aten.max.dim, aten.min.dim]
    check_converts(fn_module(f), [_x(3, 7, 5)], ops=ops)
    check_converts(fn_module(f), [dynamic_input((3, 7, 5), dims=(0,))], ops=ops)


def test_argmax_and_max_at_the_ranks_topk_limits(fn_module):
    """TopK takes rank >= 2 and reduces one of the last 4 axes (layer_limits): rank-1 and 0-d inputs
    are lifted and a rank-6 input's first axis moved last, with the results in torch's layout."""
    def f(m, x, y):
        v, i = x.max(0)
        w, j = y.min(1, keepdim=True)
        s = x.sum()
        u, k = s.max(0)
        return x.argmax(0), y.argmax(0), y.argmin(-5, keepdim=True), v, i, w, j, u, k, s.argmin(0)

    check_converts(fn_module(f), [_x(7), _x(3, 4, 2, 2, 3, 2, seed=1)],
                   ops=[aten.argmax.default, aten.argmin.default, aten.max.dim, aten.min.dim])


def test_softmax_log_softmax(fn_module, dynamic_input):
    def f(m, x):
        return x.softmax(1), x.log_softmax(-1), torch.softmax(x * 30, 0), torch.log_softmax(x * 50, 1)

    ops = [aten._softmax.default, aten._log_softmax.default]
    check_converts(fn_module(f), [_x(3, 6, 4)], ops=ops)
    check_converts(fn_module(f), [dynamic_input((3, 6, 4), dims=(0, 2))], ops=ops)
    check_converts(fn_module(f), [_x(3, 6, 4)], ops=ops, precision=torch.float16)


def test_cumsum(fn_module, dynamic_input):
    def f(m, x):
        return x.cumsum(1), torch.cumsum(x, -1), x.cumsum(0)

    check_converts(fn_module(f), [_x(3, 5)], ops=[aten.cumsum.default])
    check_converts(fn_module(f), [dynamic_input((3, 5), dims=(0, 1))], ops=[aten.cumsum.default])


def test_integer_and_bool_cumsum_cumprod(fn_module, dynamic_input):
    """Position ids from a padding mask (transformers): int64 and bool scans stay exact."""
    def f(m, i):
        mask = i > 2
        return mask.cumsum(-1) * mask - 1, i.cumsum(0), torch.cumprod(i % 3 + 1, 1), (i * 0.5).cumprod(-1)

    i = torch.randint(0, 6, (3, 7), generator=torch.Generator().manual_seed(0))
    ops = [aten.cumsum.default, aten.cumprod.default]
    check_converts(fn_module(f), [i], ops=ops)
    check_converts(fn_module(f), [dynamic_input((3, 7), dims=(0, 1), lo=2, dtype=torch.int64)], ops=ops)
