"""``rms_norm``: ``x / sqrt(mean(x^2) + eps) * weight``, computed in float32 for half inputs."""
from __future__ import annotations

import torch

from trtforge import Refusal
from trtforge.conversion import blocks as B

from ._util import argument, converter, val

aten = torch.ops.aten


def _rms_ok(node, settings):
    x = val(node.args[0])
    if not x.dtype.is_floating_point:
        return Refusal(f"input dtype {x.dtype} is not floating point")
    weight = node.args[2] if len(node.args) > 2 else node.kwargs.get("weight")
    if isinstance(weight, torch.fx.Node) and weight.op != "get_attr" and not isinstance(val(weight), torch.Tensor):
        return Refusal("weight is not a tensor")
    return True


@converter(aten.rms_norm.default, validator=_rms_ok)
def rms_norm(ctx, target, args, kwargs, name):
    x, shape = ctx.to_trt(args[0]), list(args[1])
    weight, eps = argument(target, args, kwargs, "weight"), argument(target, args, kwargs, "eps")
    dtype = ctx.torch_dtype(x)
    eps = torch.finfo(dtype).eps if eps is None else float(eps)
    xf = B.upcast(ctx, x)
    dims = list(range(len(x.shape) - len(shape), len(x.shape)))
    mean_sq = B.reduce(ctx, B.elementwise(ctx, "PROD", xf, xf), "AVG", dims, keepdim=True)
    inv = B.unary(ctx, "RECIP", B.unary(ctx, "SQRT", B.elementwise(ctx, "SUM", mean_sq, eps)))
    out = ctx.cast(B.elementwise(ctx, "PROD", xf, inv), dtype)
    if weight is not None:
        out = B.elementwise(ctx, "PROD", out, weight, dtype=dtype)
    return out
