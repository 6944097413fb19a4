"""Constants and factories with shapes derived from inputs: full/zeros/ones/empty/*_like, arange, scalar_tensor."""
from __future__ import annotations

import torch

import trtforge
from trtforge.testing import check_converts

aten = torch.ops.aten


def _x(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_like_factories(fn_module, dynamic_input):
    def f(m, x):
        return (torch.zeros_like(x) + x, torch.ones_like(x, dtype=torch.int32), torch.full_like(x, 2.5) * x,
                torch.ones_like(torch.empty_like(x)), x.new_full((2, 3), 7.0),
                x.new_zeros(x.shape[0], 2), torch.full((x.shape[0], 1), 1.5) + x[:, :1])

    ops = [aten.full_like.default, aten.full.default, aten.empty_permuted.default]
    check_converts(fn_module(f), [_x(3, 4)], ops=ops)
    check_converts(fn_module(f), [dynamic_input((3, 4), dims=(0, 1))], ops=ops)


def test_empty_memory_format(fn_module, dynamic_input):
    def f(m, x):
        # uninitialised memory: only its shape is read (it may hold inf/NaN)
        return x + torch.zeros_like(aten.empty.memory_format([x.shape[0], 4]))

    check_converts(fn_module(f), [dynamic_input((3, 4))], ops=[aten.empty.memory_format])


def test_arange_static_and_dynamic(fn_module, dynamic_input):
    def f(m, x):
        n = x.shape[0]
        return (x + torch.arange(x.shape[1]), torch.arange(1, 9, 2.0), torch.arange(n) * 2,
                torch.arange(n, dtype=torch.float32) + 0.5, torch.arange(2, n + 3), x + torch.arange(4.0))

    ops = [aten.arange.start_step]
    check_converts(fn_module(f), [_x(3, 4)], ops=ops)
    check_converts(fn_module(f), [dynamic_input((3, 4), lo=2)], ops=ops)


def test_arange_overloads_called_directly(fn_module, dynamic_input):
    def f(m, x):
        n = x.shape[0]
        return aten.arange.default(n) + 1, aten.arange.start(1, n + 1) * 2

    check_converts(fn_module(f), [dynamic_input((3, 4), lo=2)], ops=[aten.arange.default, aten.arange.start])


def test_scalar_tensor(fn_module, dynamic_input):
    check_converts(fn_module(lambda m, x: x * aten.scalar_tensor.default(3, dtype=torch.float32)),
                   [dynamic_input((3, 4))], ops=[aten.scalar_tensor.default])
    check_converts(fn_module(lambda m, x: x * aten.scalar_tensor.default(3, dtype=torch.float32)), [_x(3, 4)],
                   ops=[aten.scalar_tensor.default])


def test_fill_values_from_symbolic_sizes(fn_module, dynamic_input):
    """A dynamic dimension used as a fill value (e.g. normalising by the batch size)."""
    def f(m, x):
        n = x.shape[0]
        return x / torch.full((1, 4), n, dtype=torch.float32), torch.full_like(x, n) + x, aten.scalar_tensor.default(n)

    check_converts(fn_module(f), [dynamic_input((3, 4))], ops=[aten.full.default, aten.full_like.default])


def test_arange_with_dynamic_bound_and_float_step_falls_back(fn_module, dynamic_input):
    report = trtforge.compile(fn_module(lambda m, x: torch.arange(0, x.shape[0], 0.5) + 1), [dynamic_input((3, 4))],
                              min_block_size=1, dryrun=True)
    [entry] = [f for f in report.fallback if f.op.startswith("aten::arange")]
    assert "non-integer" in entry.reason


def test_random_factories_fall_back(fn_module):
    report = trtforge.compile(fn_module(lambda m, x: x + torch.rand_like(x)), [_x(3, 4)], min_block_size=1,
                              dryrun=True)
    assert any("rand" in f.op for f in report.fallback), report.fallback
