"""``prims`` ops an export can leave (a model or a decomposition calling them directly):
sum, div and broadcast_in_dim, with their prims semantics (div truncates integers)."""
from __future__ import annotations

import torch

from trtforge.conversion import blocks as B
from trtforge.conversion.args import argument

from ._util import converter

prims = torch.ops.prims


@converter(prims.sum.default)
def prims_sum(ctx, target, args, kwargs, name):
    x, dims = ctx.to_trt(args[0]), list(args[1])
    out = ctx.output_dtype()
    if not dims:
        return B.cast(ctx, x, out)
    return B.cast(ctx, B.reduce(ctx, B.upcast(ctx, B.cast(ctx, x, out)), "SUM", dims, keepdim=False), out)


@converter(prims.div.default)
def prims_div(ctx, target, args, kwargs, name):
    """True division for floats, division rounded toward zero for integers (C semantics)."""
    out = ctx.output_dtype()
    if out.is_floating_point:
        return B.elementwise(ctx, "DIV", args[0], args[1], dtype=out)
    a, b = B.promote(ctx, args[0], args[1], dtype=out)
    floor = B.elementwise(ctx, "FLOOR_DIV", a, b)
    exact = B.compare(ctx, "eq", B.elementwise(ctx, "PROD", floor, b), a)
    negative = B.logical(ctx, "xor", B.compare(ctx, "lt", a, 0), B.compare(ctx, "lt", b, 0))
    return B.where(ctx, B.logical(ctx, "and", negative, B.logical(ctx, "not", exact)),
                   B.elementwise(ctx, "SUM", floor, 1), floor, dtype=out)


@converter(prims.broadcast_in_dim.default)
def broadcast_in_dim(ctx, target, args, kwargs, name):
    """``a``'s dimension ``i`` becomes output dimension ``broadcast_dimensions[i]``; the rest broadcast."""
    x, shape, where = ctx.to_trt(args[0]), list(args[1]), list(argument(target, args, kwargs, "broadcast_dimensions"))
    have = B.sizes(ctx, x)
    lifted = [1] * len(shape)
    for i, d in enumerate(where):
        lifted[d] = have[i]
    return B.expand(ctx, B.reshape(ctx, x, lifted), shape)
