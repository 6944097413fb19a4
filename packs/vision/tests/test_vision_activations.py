"""Activations: relu, relu6/hardtanh, leaky, elu/selu/celu, gelu (both), silu, hardswish, hardsigmoid,
mish, softplus, sigmoid/tanh; dropout disappears in eval."""
from __future__ import annotations

import torch
import torch.nn.functional as F

import trtforge
from trtforge.testing import check_converts

aten = torch.ops.aten


def _x(*shape):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0)) * 3


def test_activations_static_and_dynamic(fn_module, dynamic_input):
    def f(m, x):
        return (F.relu(x), F.relu6(x), F.hardtanh(x, -2.0, 2.5), F.leaky_relu(x, 0.2), F.elu(x, 0.7), F.selu(x),
                F.celu(x, 1.3), F.gelu(x), F.gelu(x, approximate="tanh"), F.silu(x), F.hardswish(x),
                F.hardsigmoid(x), F.mish(x), F.softplus(x), F.softplus(x, beta=2.0, threshold=1.0),
                torch.sigmoid(x), torch.tanh(x), F.dropout(x, 0.5, training=False))

    ops = [aten.relu.default, aten.hardtanh.default, aten.leaky_relu.default, aten.elu.default, aten.selu.default,
           aten.gelu.default, aten.silu.default, aten.hardswish.default, aten.hardsigmoid.default, aten.mish.default,
           aten.softplus.default, aten.sigmoid.default, aten.tanh.default]
    check_converts(fn_module(f), [_x(2, 3, 8)], ops=ops)
    check_converts(fn_module(f), [dynamic_input((2, 3, 8), dims=(0, 2))], ops=ops)


def test_activation_modules_half_precision(fn_module):
    m = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.GELU(), torch.nn.Linear(8, 8), torch.nn.Hardswish(),
                            torch.nn.Linear(8, 8), torch.nn.SiLU(), torch.nn.Mish())
    check_converts(m, [_x(4, 8)], precision=torch.float16, ops=[aten.to.dtype])


def test_elu_with_input_scale_falls_back(fn_module):
    m = fn_module(lambda m, x: aten.elu.default(x, 1.0, 1.0, 2.0) + 1)
    report = trtforge.compile(m, [_x(2, 3)], min_block_size=1, dryrun=True)
    [entry] = [f for f in report.fallback if f.op == "aten::elu.default"]
    assert "input_scale" in entry.reason


def test_relu_on_integers_falls_back(fn_module):
    report = trtforge.compile(fn_module(lambda m, i: torch.relu(i) + 1), [torch.arange(-3, 3)], min_block_size=1,
                              dryrun=True)
    [entry] = [f for f in report.fallback if f.op == "aten::relu.default"]
    assert "not floating point" in entry.reason
