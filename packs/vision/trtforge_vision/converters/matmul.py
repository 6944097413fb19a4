"""Matrix products: mm, bmm, matmul, addmm, baddbmm, linear (one matrix-multiply layer each)."""
from __future__ import annotations

import torch

from trtforge.conversion import blocks as B
from trtforge.conversion.args import argument

from ._util import converter, scalar_value

aten = torch.ops.aten


def _affine(ctx, product, bias, beta, alpha):
    """``beta * bias + alpha * product`` (factors of 1 and a None bias add no layers)."""
    alpha, beta = scalar_value(alpha), scalar_value(beta)
    if alpha not in (None, 1):
        product = B.elementwise(ctx, "PROD", product, alpha)
    if bias is None or beta == 0:
        return product
    if beta not in (None, 1):
        bias = bias * beta if isinstance(bias, torch.Tensor) else B.elementwise(ctx, "PROD", bias, beta)
    return B.elementwise(ctx, "SUM", product, bias, dtype=ctx.torch_dtype(product))


@converter(aten.mm.default, aten.bmm.default, aten.matmul.default)
def mm(ctx, target, args, kwargs, name):
    return B.matmul(ctx, args[0], args[1])


@converter(aten.addmm.default, aten.baddbmm.default)
def addmm(ctx, target, args, kwargs, name):
    product = B.matmul(ctx, args[1], args[2])
    return _affine(ctx, product, args[0], argument(target, args, kwargs, "beta"), argument(target, args, kwargs, "alpha"))


@converter(aten.linear.default)
def linear(ctx, target, args, kwargs, name):
    """x @ W^T + b: the weight is read transposed by the layer, never copied."""
    x, w, b = args[0], args[1], argument(target, args, kwargs, "bias")
    if isinstance(w, torch.Tensor) and len(x.shape) > 2:
        w = w.reshape((1,) * (len(x.shape) - 2) + tuple(w.shape))
    y = B.matmul(ctx, x, w, transpose_b=True)
    return _affine(ctx, y, b, 1, 1)
