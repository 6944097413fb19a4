"""Shape ops: view/reshape, permute, flatten, squeeze/unsqueeze, expand, cat/stack, split/chunk/unbind,
slice/select/narrow, index_select/gather/index, pad, roll, repeat, flip."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import trtforge
from trtforge.testing import check_converts

aten = torch.ops.aten


def _x(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_view_permute_flatten_squeeze(fn_module, dynamic_input):
    def f(m, x):
        n = x.shape[0]
        return (x.view(n, -1), x.reshape(n * 3, 4, 5), x.permute(0, 2, 3, 1), x.transpose(1, 2),
                x.flatten(1), x.flatten(), x.unflatten(2, (2, 2)), x[:, None].squeeze(1), x.unsqueeze(-1),
                x.sum(1, keepdim=True).squeeze(), x.sum(2, keepdim=True).squeeze(2), x.view(-1, 3, 20).contiguous(),
                x[:, :1, None].squeeze((1, 2)))

    ops = [aten.permute.default, aten.unsqueeze.default, aten.squeeze.dim, aten.squeeze.dims, aten.squeeze.default]
    # export records reshapes of contiguous tensors as views: the core rewrites static views into
    # reshapes, dynamic ones stay views; both convert to one shuffle layer
    check_converts(fn_module(f), [_x(2, 3, 4, 5)], ops=ops + [aten.reshape.default])
    check_converts(fn_module(f), [dynamic_input((2, 3, 4, 5), lo=2)], ops=ops + [aten.view.default])


def test_view_with_symbolic_sizes(fn_module, dynamic_input):
    """Dynamic batch: sym_size and SymInt arithmetic feed view sizes (as in vit_b_16)."""
    def f(m, x):
        n = x.shape[0]
        y = x.reshape(n * 3, 20)
        return y.view(n, 3, 4, 5) + 1, y.view(n * 3 * 4, 5)

    check_converts(fn_module(f), [dynamic_input((2, 3, 4, 5), lo=1, hi=6)],
                   ops=[aten.sym_size.int, "_operator.mul", aten.view.default])


def test_symint_arithmetic_ops(fn_module, dynamic_input):
    def f(m, x):
        n = x.shape[0]
        return (x.new_zeros(n + 2, 3), x.new_zeros(20 - n, 1), x.new_ones(n * 2 + 5), x.new_zeros(n // 2 + 2),
                x.new_zeros(n % 3 + 2), x[-n:] * 2, x.new_zeros(torch.sym_max(n, 3), 1),
                x.new_zeros(torch.sym_min(n, 3) + 1, 1))

    ops = ["_operator.add", "_operator.sub", "_operator.mul", "_operator.floordiv", "_operator.mod",
           "_operator.neg", "torch.sym_max", "torch.sym_min", aten.sym_size.int]
    check_converts(fn_module(f), [dynamic_input((4, 6), dims=(0,), lo=2, hi=8)], ops=ops)


def test_clone_kept_for_a_view_converts(fn_module, dynamic_input):
    """The core keeps a contiguous clone a PyTorch view reads; it converts to an identity."""
    def f(m, x):
        return x.transpose(1, 2).contiguous().view(x.shape[0], -1) * 2

    check_converts(fn_module(f), [dynamic_input((2, 3, 4), lo=2)], ops=[aten.clone.default])


def test_expand(fn_module, dynamic_input):
    def f(m, x):
        return (x[:, :1].expand(-1, 4, -1), m.w.expand(x.shape[0], -1, -1) + x, m.w.expand_as(x),
                x[:1].expand(3, 4, 5) if x.shape[0] > 0 else x, m.v.expand(2, *x.shape[1:]))

    m = fn_module(f, w=_x(1, 4, 5, seed=1), v=_x(5, seed=2))
    check_converts(m, [_x(2, 4, 5)], ops=[aten.expand.default])
    check_converts(m, [dynamic_input((2, 4, 5))], ops=[aten.expand.default])


def test_cat_stack(fn_module, dynamic_input):
    def f(m, x):
        i = (x > 0).to(torch.int32)
        return (torch.cat([x, x * 2], 1), torch.cat([x, i], -1), torch.cat([m.w.expand(x.shape[0], -1, -1), x], 1),
                torch.stack([x, x + 1]), torch.stack([x, -x], -1), torch.cat([x.flatten(), m.e]))

    m = fn_module(f, w=_x(1, 2, 5, seed=1), e=torch.zeros(0))
    check_converts(m, [_x(2, 3, 5)], ops=[aten.cat.default, aten.stack.default])
    check_converts(m, [dynamic_input((2, 3, 5))], ops=[aten.cat.default, aten.stack.default])


def test_split_chunk_unbind(fn_module, dynamic_input):
    def f(m, x):
        a, b = x.split(2, 1)             # 4 = 2 + 2
        c, d, e = x.split([1, 2, 2], 2)
        p, q = x.chunk(2, 1)
        u = x.unbind(1)
        s = x.split(3, 2)                # 5 = 3 + 2 (uneven last chunk)
        return a * b, c, d + e, u[0] - u[3], s[1], p, q

    ops = [aten.split.Tensor, aten.split_with_sizes.default, aten.unbind.int]
    check_converts(fn_module(f), [_x(4, 4, 5)], ops=ops)
    check_converts(fn_module(f), [dynamic_input((4, 4, 5), dims=(0,), lo=2)], ops=ops)


def test_split_along_dynamic_dim(fn_module, dynamic_input):
    def f(m, x):
        a, b = x.split(3, 0)  # one chunk of 3 and the rest
        return a + 1, b * 2

    check_converts(fn_module(f), [dynamic_input((5, 2), lo=5, hi=6)], ops=[aten.split.Tensor])


def test_slice_select_narrow(fn_module, dynamic_input):
    def f(m, x):
        return (x[:, 1:3], x[:, ::2], x[..., -2:], x[:, -1], x[1:, 0, 1:4:2], x.narrow(2, 1, 3), x[:, :100],
                x[-100:], x.select(0, -1), x[:, 2:1], x[:, :-1, 2])

    ops = [aten.slice.Tensor, aten.select.int]
    check_converts(fn_module(f), [_x(3, 4, 5)], ops=ops)
    check_converts(fn_module(f), [dynamic_input((5, 4, 6), dims=(0, 2), lo=4)], ops=ops)


def test_index_select_gather_index(fn_module, dynamic_input):
    def f(m, x, idx):
        return (x.index_select(1, idx), x.index_select(2, m.i), torch.gather(x, 2, m.g.expand(x.shape[0], -1, -1)),
                torch.gather(x, 1, m.g2.expand(x.shape[0], -1, -1)), x[:, idx], x[:, :, m.neg], x[m.i[:1]])

    m = fn_module(f, i=torch.tensor([0, 2, 1]), g=torch.tensor([[[0, 4], [1, 1], [3, 0], [2, 2]]]),
                  g2=torch.tensor([[[0, 1, 3]]]), neg=torch.tensor([-1, 0, -2]))
    ops = [aten.index_select.default, aten.gather.default, aten.index.Tensor]
    idx = torch.tensor([3, 0, 0])
    check_converts(m, [_x(2, 4, 5), idx], ops=ops)
    check_converts(m, [dynamic_input((2, 4, 5)), idx], ops=ops)


def test_gather_from_a_constant_table(fn_module, dynamic_input):
    """Embedding-style lookups: the indexed tensor is a weight, the indices are computed."""
    def f(m, i):
        j = i % 5
        return m.table[j - 2], m.table.index_select(0, j.flatten()), torch.gather(m.table, 1, j % 3)

    m = fn_module(f, table=_x(5, 3))
    i = torch.tensor([[4, 0], [-1, 2]])
    check_converts(m, [i], ops=[aten.index.Tensor, aten.index_select.default, aten.gather.default])
    check_converts(m, [dynamic_input((2, 2), dtype=torch.int64)], ops=[aten.index.Tensor])


def test_boolean_mask_index_refused_with_a_true_reason(fn_module):
    """A mask selects a data-dependent number of elements: the vision pack says so (the dds_ops pack
    may still take it on full TensorRT)."""
    m = fn_module(lambda m, x: x[x > 0] * 2)
    report = trtforge.compile(m, [_x(3, 3)], min_block_size=1, dryrun=True)
    reasons = [f.reason for f in report.fallback if f.op == "aten::index.Tensor"]
    assert reasons and "data-dependent number of elements" in reasons[0], reasons


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_modes(fn_module, dynamic_input, mode):
    def f(m, x):
        y = F.pad(x, (1, 2, 2, 1), mode=mode) if mode != "constant" else F.pad(x, (1, 2, 0, 3, 1, 1), value=0.5)
        return y, F.pad(x[0], (2, 1), mode=mode)

    ops = [aten.pad.default]
    check_converts(fn_module(f), [_x(2, 3, 4, 5)], ops=ops)
    check_converts(fn_module(f), [dynamic_input((2, 3, 4, 5), dims=(3,), lo=3, hi=8)], ops=ops)


def test_constant_pad_nd_and_negative_padding(fn_module, dynamic_input):
    def f(m, x):
        return aten.constant_pad_nd.default(x, [1, -1, -1, 2], 0.0), F.pad(x, (-1, -1))

    check_converts(fn_module(f), [_x(2, 4, 5)], ops=[aten.constant_pad_nd.default])
    check_converts(fn_module(f), [dynamic_input((2, 4, 5))], ops=[aten.constant_pad_nd.default])


def test_reflect_pad_negative_falls_back(fn_module):
    report = trtforge.compile(fn_module(lambda m, x: aten.pad.default(x, [-1, 1], "reflect") + 1), [_x(2, 4, 5)],
                              min_block_size=1, dryrun=True)
    [entry] = [f for f in report.fallback if f.op == "aten::pad.default"]
    assert "negative" in entry.reason


def test_roll_repeat_flip(fn_module, dynamic_input):
    def f(m, x):
        return (x.roll(1, 2), x.roll((-1, 2), (0, 1)), x.roll(3), x.repeat(1, 2, 1), x.repeat(2, 1, 1, 3),
                x.tile((2,)), x.flip(2), x.flip((0, 1)))

    ops = [aten.roll.default, aten.repeat.default, aten.flip.default]
    check_converts(fn_module(f), [_x(2, 3, 4)], ops=ops)
    check_converts(fn_module(f), [dynamic_input((2, 3, 4), dims=(0, 2), lo=2)], ops=ops)
