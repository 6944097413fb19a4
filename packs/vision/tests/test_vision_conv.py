"""Convolution 1d/2d/3d (groups, dilation, stride, padding, padding modes) and transposed convolution."""
from __future__ import annotations

import pytest
import torch

import trtforge
from trtforge.testing import check_converts

aten = torch.ops.aten


def _x(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _seeded(module, seed=0):
    torch.manual_seed(seed)
    for p in module.parameters():
        p.data.normal_(0, 0.3)
    return module


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv2d_options(padding_mode, dynamic_input):
    m = _seeded(torch.nn.Sequential(
        torch.nn.Conv2d(4, 8, 3, stride=2, padding=1, padding_mode=padding_mode),
        torch.nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4, bias=False, padding_mode=padding_mode),
        torch.nn.Conv2d(8, 6, (1, 3), padding="same"),
        torch.nn.Conv2d(6, 6, 2, padding="same", groups=6),  # asymmetric 'same': a pad first
    ))
    check_converts(m, [_x(2, 4, 9, 10)], ops=[aten.convolution.default])
    if padding_mode == "zeros":
        check_converts(m, [dynamic_input((2, 4, 9, 10), dims=(0, 2, 3), lo=5)], ops=[aten.convolution.default])


def test_conv1d_and_conv3d(dynamic_input):
    c1 = _seeded(torch.nn.Sequential(torch.nn.Conv1d(3, 6, 3, stride=2, padding=1), torch.nn.Conv1d(6, 6, 1, groups=3)))
    check_converts(c1, [_x(2, 3, 11)], ops=[aten.convolution.default])
    check_converts(c1, [dynamic_input((2, 3, 11), dims=(0, 2), lo=4)], ops=[aten.convolution.default])
    c3 = _seeded(torch.nn.Conv3d(2, 4, (3, 3, 2), padding=(1, 1, 0), stride=(1, 2, 1)))
    check_converts(c3, [_x(1, 2, 5, 6, 4)], ops=[aten.convolution.default])


def test_conv_half_precision():
    m = _seeded(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 1)))
    check_converts(m, [_x(1, 3, 8, 8)], precision=torch.float16, ops=[aten.convolution.default])


def test_conv_transpose(dynamic_input):
    m = _seeded(torch.nn.Sequential(
        torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1),
        torch.nn.ConvTranspose2d(6, 4, 3, stride=1, padding=1, groups=2, dilation=1, bias=False),
        torch.nn.ConvTranspose2d(4, 2, 2, stride=2, output_padding=1),  # output_padding > padding
    ))
    check_converts(m, [_x(2, 4, 5, 6)], ops=[aten.convolution.default])
    check_converts(m, [dynamic_input((2, 4, 5, 6), dims=(0, 2))], ops=[aten.convolution.default])
    m1 = _seeded(torch.nn.ConvTranspose1d(3, 2, 4, stride=2, padding=1))
    check_converts(m1, [_x(2, 3, 7)], ops=[aten.convolution.default])
    m3 = _seeded(torch.nn.ConvTranspose3d(2, 2, 2, stride=2))
    check_converts(m3, [_x(1, 2, 3, 3, 2)], ops=[aten.convolution.default])


def test_conv_with_runtime_weight(fn_module):
    # a weight computed in the network (e.g. dequantized INT8 weights) is the layer's input 1
    m = fn_module(lambda m, x, w: torch.nn.functional.conv2d(x, w * 2, m.b, padding=1) + 1, b=_x(3, seed=2))
    check_converts(m, [_x(1, 2, 5, 5), _x(3, 2, 3, 3, seed=1)])


def test_conv_with_runtime_bias_falls_back(fn_module):
    m = fn_module(lambda m, x, b: torch.nn.functional.conv2d(x, m.w, b * 2) + 1, w=_x(3, 2, 3, 3))
    report = trtforge.compile(m, [_x(1, 2, 5, 5), _x(3)], min_block_size=1, dryrun=True)
    [entry] = [f for f in report.fallback if f.op == "aten::convolution.default"]
    assert "bias computed at run time" in entry.reason
