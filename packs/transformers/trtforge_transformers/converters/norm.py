"""``rms_norm``: ``x / sqrt(mean(x^2) + eps) * weight``, computed in float32 for half inputs."""
from __future__ import annotations

import torch

import trtforge
from trtforge import Refusal
from trtforge.conversion import blocks as B
from trtforge.conversion.args import argument, dtype_of, node_argument, value_of

aten = torch.ops.aten


def _rms_ok(node, settings):
    dtype = dtype_of(node_argument(node, "input"))
    if dtype is None or not dtype.is_floating_point:
        return Refusal(f"input dtype {dtype} is not floating point")
    weight = node_argument(node, "weight")
    if isinstance(weight, torch.fx.Node) and weight.op != "get_attr" and not isinstance(value_of(weight), torch.Tensor):
        return Refusal("weight is not a tensor")
    return True


@trtforge.converter(aten.rms_norm.default, supports_dynamic_shapes=True, capability_validator=_rms_ok)
def rms_norm(ctx, target, args, kwargs, name):
    x = ctx.to_trt(argument(target, args, kwargs, "input"))
    shape = list(argument(target, args, kwargs, "normalized_shape"))
    weight, eps = argument(target, args, kwargs, "weight"), argument(target, args, kwargs, "eps")
    dtype = ctx.torch_dtype(x)
    eps = torch.finfo(dtype).eps if eps is None else float(eps)
    xf = B.upcast(ctx, x)
    dims = list(range(len(x.shape) - len(shape), len(x.shape)))
    mean_sq = B.reduce(ctx, B.elementwise(ctx, "PROD", xf, xf), "AVG", dims, keepdim=True)
    inv = B.unary(ctx, "RECIP", B.unary(ctx, "SQRT", B.elementwise(ctx, "SUM", mean_sq, eps)))
    out = B.cast(ctx, B.elementwise(ctx, "PROD", xf, inv), dtype)
    if weight is not None:
        out = B.elementwise(ctx, "PROD", out, weight, dtype=dtype)
    return out
