"""Interpolation (nearest, nearest-exact, linear/bilinear/trilinear, bicubic; align_corners both ways),
pixel shuffle/unshuffle, grid sample."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import trtforge
from trtforge.testing import check_converts

aten = torch.ops.aten


def _x(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
def test_nearest(fn_module, dynamic_input, mode):
    def f(m, x):
        return (F.interpolate(x, scale_factor=2, mode=mode), F.interpolate(x, size=(7, 9), mode=mode),
                F.interpolate(x, scale_factor=(1.5, 0.5), mode=mode), F.interpolate(x[0], scale_factor=3, mode=mode),
                F.interpolate(x[:, None], size=(2, 3, 4), mode=mode))

    check_converts(fn_module(f), [_x(2, 3, 4, 6)])
    check_converts(fn_module(f), [dynamic_input((2, 3, 4, 6))])


@pytest.mark.parametrize("align", [False, True])
def test_linear_modes(fn_module, dynamic_input, align):
    def f(m, x):
        return (F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=align),
                F.interpolate(x, size=(5, 9), mode="bilinear", align_corners=align),
                F.interpolate(x, scale_factor=1.7, mode="bicubic", align_corners=align),
                F.interpolate(x[0], size=11, mode="linear", align_corners=align),
                F.interpolate(x[:, None], scale_factor=(2, 1.5, 1), mode="trilinear", align_corners=align))

    ops = [aten.upsample_bilinear2d.vec, aten.upsample_bicubic2d.vec, aten.upsample_linear1d.vec,
           aten.upsample_trilinear3d.vec]
    check_converts(fn_module(f), [_x(2, 3, 4, 6)], ops=ops)
    check_converts(fn_module(f), [dynamic_input((2, 3, 4, 6))], ops=ops)
    check_converts(fn_module(f), [_x(2, 3, 4, 6)], ops=ops, precision=torch.float16)


def test_nearest_overloads(fn_module):
    def f(m, x):
        return (F.interpolate(x[0], scale_factor=2), F.interpolate(x[:, None], scale_factor=2),
                F.interpolate(x[0], scale_factor=2, mode="nearest-exact"),
                F.interpolate(x[:, None], scale_factor=2, mode="nearest-exact"))

    ops = [aten.upsample_nearest1d.vec, aten.upsample_nearest3d.vec, aten._upsample_nearest_exact1d.vec,
           aten._upsample_nearest_exact3d.vec]
    check_converts(fn_module(f), [_x(2, 3, 4, 5)], ops=ops)


def test_upsample_size_of_dynamic_spatial_input_falls_back(fn_module, dynamic_input):
    report = trtforge.compile(fn_module(lambda m, x: F.interpolate(x, scale_factor=2, mode="bilinear",
                                                                   align_corners=True) + 1),
                              [dynamic_input((1, 2, 4, 4), dims=(2, 3), lo=2)], min_block_size=1, dryrun=True)
    [entry] = [f for f in report.fallback if "upsample" in f.op]
    assert "dynamic spatial" in entry.reason


def test_antialiased_resize_falls_back(fn_module):
    report = trtforge.compile(fn_module(lambda m, x: F.interpolate(x, scale_factor=0.5, mode="bilinear",
                                                                   antialias=True) + 1),
                              [_x(1, 2, 8, 8)], min_block_size=1, dryrun=True)
    assert any("aa" in f.op for f in report.fallback), report.fallback


def test_pixel_shuffle_unshuffle(fn_module, dynamic_input):
    def f(m, x):
        return F.pixel_shuffle(x, 2), F.pixel_unshuffle(x, 2), F.pixel_shuffle(x[0], 2)

    ops = [aten.pixel_shuffle.default, aten.pixel_unshuffle.default]
    check_converts(fn_module(f), [_x(2, 8, 4, 6)], ops=ops)
    check_converts(fn_module(f), [dynamic_input((2, 8, 4, 6), dims=(0,))], ops=ops)
    shuffle = fn_module(lambda m, x: F.pixel_shuffle(x, 2))  # any spatial size: shape arithmetic at run time
    check_converts(shuffle, [dynamic_input((2, 8, 4, 6), dims=(0, 2, 3), lo=2)], ops=[aten.pixel_shuffle.default])


@pytest.mark.parametrize("mode,padding", [("bilinear", "zeros"), ("nearest", "border"), ("bicubic", "reflection"),
                                          ("bilinear", "reflection")])
@pytest.mark.parametrize("align", [False, True])
def test_grid_sample(fn_module, mode, padding, align):
    grid = torch.rand(2, 5, 7, 2, generator=torch.Generator().manual_seed(1)) * 2.4 - 1.2
    m = fn_module(lambda m, x: F.grid_sample(x, m.grid, mode=mode, padding_mode=padding, align_corners=align), grid=grid)
    check_converts(m, [_x(2, 3, 6, 8)], ops=[aten.grid_sampler_2d.default])


def test_grid_sample_dynamic_grid(fn_module, dynamic_input):
    m = fn_module(lambda m, x, g: F.grid_sample(x, g.tanh(), align_corners=False))
    check_converts(m, [_x(2, 3, 6, 8), dynamic_input((2, 5, 7, 2), dims=(1, 2))], ops=[aten.grid_sampler_2d.default])
