"""Interpolation (nearest, nearest-exact, (bi/tri)linear, bicubic; align_corners both ways),
pixel shuffle/unshuffle and grid sample."""
from __future__ import annotations

import torch

from trtforge import Refusal
from trtforge.conversion import blocks as B
from trtforge.conversion.args import all_of, argument, node_argument, value_of

from ._util import converter, float_input

aten = torch.ops.aten

#: op -> (interpolation mode, spatial rank, has align_corners argument)
_UPSAMPLE = {
    aten.upsample_nearest1d.vec: ("NEAREST", 1, False),
    aten.upsample_nearest2d.vec: ("NEAREST", 2, False),
    aten.upsample_nearest3d.vec: ("NEAREST", 3, False),
    aten._upsample_nearest_exact1d.vec: ("NEAREST_EXACT", 1, False),
    aten._upsample_nearest_exact2d.vec: ("NEAREST_EXACT", 2, False),
    aten._upsample_nearest_exact3d.vec: ("NEAREST_EXACT", 3, False),
    aten.upsample_linear1d.vec: ("LINEAR", 1, True),
    aten.upsample_bilinear2d.vec: ("LINEAR", 2, True),
    aten.upsample_trilinear3d.vec: ("LINEAR", 3, True),
    aten.upsample_bicubic2d.vec: ("CUBIC", 2, True),
}


def _upsample_ok(node, settings):
    mode, n, has_align = _UPSAMPLE[node.target]
    out = value_of(node).shape
    scales = node_argument(node, "scale_factors")  # its position depends on the overload
    align = bool(node_argument(node, "align_corners", default=False))
    if (scales is None or align) and not all(isinstance(d, int) for d in out[-n:]):
        return Refusal("output size computed at run time (dynamic spatial dimensions without scale factors)")
    return True


@converter(*_UPSAMPLE, validator=all_of(float_input, _upsample_ok))
def upsample(ctx, target, args, kwargs, name):
    mode, n, has_align = _UPSAMPLE[target]
    x = args[0]
    align = bool(argument(target, args, kwargs, "align_corners", default=False))  # nearest modes have none
    scales = argument(target, args, kwargs, "scale_factors")
    layer = ctx.net.add_resize(x)
    t = ctx.trt
    layer.resize_mode = t.InterpolationMode.NEAREST if mode.startswith("NEAREST") else getattr(t.InterpolationMode, mode)
    if mode == "NEAREST":
        layer.coordinate_transformation = t.ResizeCoordinateTransformation.ASYMMETRIC
        layer.nearest_rounding = t.ResizeRoundMode.FLOOR
    elif mode == "NEAREST_EXACT":
        layer.coordinate_transformation = t.ResizeCoordinateTransformation.HALF_PIXEL
        layer.nearest_rounding = t.ResizeRoundMode.HALF_UP
    else:
        layer.coordinate_transformation = (t.ResizeCoordinateTransformation.ALIGN_CORNERS if align
                                           else t.ResizeCoordinateTransformation.HALF_PIXEL)
        if mode == "CUBIC":
            layer.cubic_coeff = -0.75
            layer.exclude_outside = False
    lead = len(x.shape) - n
    if scales is not None and not align:
        # torch maps coordinates with 1/scale_factor, not in/out: hand TensorRT the scales
        layer.scales = [1.0] * lead + [float(s) for s in scales]
    else:
        out = list(value_of(ctx.current_node).shape[-n:])
        if B.is_static(x):
            layer.shape = tuple(x.shape[:lead]) + tuple(int(d) for d in out)
        else:
            layer.set_input(1, B.shape_tensor(ctx, B.sizes(ctx, x)[:lead] + [int(d) for d in out]))
    return ctx.out(layer, "resize")


def _shuffle_ok(node, settings):
    rank = len(value_of(node.args[0]).shape)
    if rank < 3:
        return Refusal(f"rank-{rank} input")
    return True


@converter(aten.pixel_shuffle.default, validator=_shuffle_ok)
def pixel_shuffle(ctx, target, args, kwargs, name):
    """(*, C*r*r, H, W) -> (*, C, r, r, H, W) -> (*, C, H, r, W, r) -> (*, C, H*r, W*r)."""
    x, r = args[0], int(args[1])
    s = B.sizes(ctx, x)
    lead, (c, h, w) = s[:-3], s[-3:]
    c_out = B.dim_arith(ctx, "floordiv", c, r * r)
    y = B.reshape(ctx, x, lead + [c_out, r, r, h, w])
    k = len(lead)
    y = B.permute(ctx, y, list(range(k)) + [k, k + 3, k + 1, k + 4, k + 2])
    return B.reshape(ctx, y, lead + [c_out, B.dim_arith(ctx, "mul", h, r), B.dim_arith(ctx, "mul", w, r)])


@converter(aten.pixel_unshuffle.default, validator=_shuffle_ok)
def pixel_unshuffle(ctx, target, args, kwargs, name):
    """(*, C, H*r, W*r) -> (*, C, H, r, W, r) -> (*, C, r, r, H, W) -> (*, C*r*r, H, W)."""
    x, r = args[0], int(args[1])
    s = B.sizes(ctx, x)
    lead, (c, h, w) = s[:-3], s[-3:]
    h_out, w_out = B.dim_arith(ctx, "floordiv", h, r), B.dim_arith(ctx, "floordiv", w, r)
    y = B.reshape(ctx, x, lead + [c, h_out, r, w_out, r])
    k = len(lead)
    y = B.permute(ctx, y, list(range(k)) + [k, k + 2, k + 4, k + 1, k + 3])
    return B.reshape(ctx, y, lead + [B.dim_arith(ctx, "mul", c, r * r), h_out, w_out])


_GRID_INTERP = {0: "LINEAR", 1: "NEAREST", 2: "CUBIC"}
_GRID_PAD = {0: "FILL", 1: "CLAMP", 2: "REFLECT"}


def _grid_ok(node, settings):
    interp, pad = node.args[2], node.args[3]
    if interp not in _GRID_INTERP or pad not in _GRID_PAD:
        return Refusal(f"grid_sample mode {interp}/{pad}")
    return True


@converter(aten.grid_sampler_2d.default, validator=all_of(float_input, _grid_ok))
def grid_sample(ctx, target, args, kwargs, name):
    x, grid, interp, pad, align = args[:5]
    layer = ctx.net.add_grid_sample(x, ctx.to_trt(grid, ctx.torch_dtype(x)))
    layer.interpolation_mode = getattr(ctx.trt.InterpolationMode, _GRID_INTERP[interp])
    layer.sample_mode = getattr(ctx.trt.SampleMode, _GRID_PAD[pad])
    layer.align_corners = bool(align)
    return ctx.out(layer, "grid_sample")
