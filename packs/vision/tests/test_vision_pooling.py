"""Max/avg pooling (1d/2d/3d, padding, ceil_mode, count_include_pad, divisor_override) and adaptive pooling."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import trtforge
from trtforge.testing import check_converts

aten = torch.ops.aten


def _x(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("ceil", [False, True])
def test_max_and_avg_pool2d(fn_module, dynamic_input, ceil):
    def f(m, x):
        return (F.max_pool2d(x, 3, 2, 1, ceil_mode=ceil), F.max_pool2d(x, 2), F.avg_pool2d(x, 3, 2, 1, ceil_mode=ceil),
                F.avg_pool2d(x, 3, 2, 1, ceil_mode=ceil, count_include_pad=False), F.avg_pool2d(x, (2, 3), (1, 2)),
                F.max_pool2d(x[0], 2))

    ops = [aten.max_pool2d.default, aten.avg_pool2d.default]
    check_converts(fn_module(f), [_x(2, 3, 8, 11)], ops=ops)
    dims = (0,) if ceil else (0, 2, 3)  # ceil_mode needs static spatial sizes
    check_converts(fn_module(f), [dynamic_input((2, 3, 8, 11), dims=dims, lo=6)], ops=ops)


def test_ceil_mode_drops_window_starting_in_padding(fn_module):
    """torch drops a last window that would start in the right padding; TensorRT's round-up would not."""
    def f(m, x):
        return F.max_pool2d(x, 2, 2, 1, ceil_mode=True), F.avg_pool2d(x, 2, 2, 1, ceil_mode=True)

    check_converts(fn_module(f), [_x(1, 2, 5, 5)])


def test_avg_pool_divisor_override(fn_module):
    check_converts(fn_module(lambda m, x: F.avg_pool2d(x, 2, divisor_override=3)), [_x(1, 2, 6, 6)],
                   ops=[aten.avg_pool2d.default])


def test_pool1d_and_pool3d(fn_module, dynamic_input):
    def f(m, x):
        return (F.max_pool1d(x, 3, 2, 1), F.avg_pool1d(x, 2), F.max_pool3d(x[:, None].expand(-1, 2, -1, -1), 2),
                F.avg_pool3d(x[:, None].expand(-1, 2, -1, -1), (1, 2, 2)))

    ops = [aten.max_pool1d.default, aten.avg_pool1d.default, aten.max_pool3d.default, aten.avg_pool3d.default]
    check_converts(fn_module(f), [_x(2, 4, 10)], ops=ops)
    check_converts(fn_module(f), [dynamic_input((2, 4, 10), dims=(0,))], ops=ops)


def test_pool_with_indices_overloads(fn_module, dynamic_input):
    def f(m, x):
        return (aten.max_pool2d_with_indices.default(x, [2, 2])[0] + 1,
                aten.max_pool3d_with_indices.default(x[:, None], [1, 2, 2])[0] * 2)

    ops = [aten.max_pool2d_with_indices.default, aten.max_pool3d_with_indices.default]
    check_converts(fn_module(f), [_x(2, 3, 6, 6)], ops=ops)
    check_converts(fn_module(f), [dynamic_input((2, 3, 6, 6), dims=(0, 3), lo=4)], ops=ops)


def test_pool_indices_used_falls_back(fn_module):
    m = fn_module(lambda m, x: F.max_pool2d(x, 2, return_indices=True)[1] + 1)
    report = trtforge.compile(m, [_x(1, 2, 4, 4)], min_block_size=1, dryrun=True)
    [entry] = [f for f in report.fallback if "max_pool2d" in f.op]
    assert "indices" in entry.reason


def test_dilated_max_pool_falls_back(fn_module):
    report = trtforge.compile(fn_module(lambda m, x: F.max_pool2d(x, 2, dilation=2) + 1), [_x(1, 2, 6, 6)],
                              min_block_size=1, dryrun=True)
    [entry] = [f for f in report.fallback if f.op == "aten::max_pool2d.default"]
    assert "dilation" in entry.reason


def test_adaptive_avg_pool(fn_module, dynamic_input):
    def f(m, x):
        return (F.adaptive_avg_pool2d(x, 1), F.adaptive_avg_pool2d(x, (2, 4)), F.adaptive_avg_pool2d(x, (3, 5)),
                F.adaptive_avg_pool1d(x[0], 3), F.adaptive_avg_pool3d(x[:, None], (1, 2, 2)),
                F.adaptive_avg_pool2d(x, (None, 2)), F.adaptive_avg_pool3d(x, (2, 4, 3)))  # 3-d, not divisible

    ops = [aten.adaptive_avg_pool2d.default, aten.adaptive_avg_pool3d.default]
    check_converts(fn_module(f), [_x(2, 3, 6, 8)], ops=ops)
    check_converts(fn_module(f), [dynamic_input((2, 3, 6, 8))], ops=ops)
    check_converts(fn_module(f), [_x(2, 3, 6, 8)], ops=ops, precision=torch.float16)


def test_adaptive_pool_overloads_called_directly(fn_module, dynamic_input):
    def f(m, x):
        return (aten._adaptive_avg_pool2d.default(x, [3, 3]), aten._adaptive_avg_pool3d.default(x[:, None], [1, 3, 2]),
                aten.adaptive_max_pool3d.default(x[:, None], [1, 2, 2])[0])

    ops = [aten._adaptive_avg_pool2d.default, aten._adaptive_avg_pool3d.default, aten.adaptive_max_pool3d.default]
    check_converts(fn_module(f), [_x(1, 2, 6, 4)], ops=ops)
    check_converts(fn_module(f), [dynamic_input((2, 2, 6, 4))], ops=ops)


def test_adaptive_max_pool(fn_module, dynamic_input):
    def f(m, x):
        return F.adaptive_max_pool2d(x, 1), F.adaptive_max_pool2d(x, (3, 4)), F.adaptive_max_pool2d(x, (4, 3))

    ops = [aten.adaptive_max_pool2d.default]
    check_converts(fn_module(f), [_x(2, 3, 6, 8)], ops=ops)
    check_converts(fn_module(f), [dynamic_input((2, 3, 6, 8))], ops=ops)


def test_adaptive_pool_of_dynamic_size_not_divisible_falls_back(fn_module, dynamic_input):
    report = trtforge.compile(fn_module(lambda m, x: F.adaptive_avg_pool2d(x, (3, 3)) + 1),
                              [dynamic_input((1, 2, 7, 7), dims=(2, 3), lo=5)], min_block_size=1, dryrun=True)
    [entry] = [f for f in report.fallback if "adaptive_avg_pool2d" in f.op]
    assert "dynamic" in entry.reason
