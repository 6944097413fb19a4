"""Pairwise distances: cdist (and _cdist_forward), pdist (and _pdist_forward).

Distances are computed from the differences, not with torch's ``|a|^2 + |b|^2 - 2ab``
matrix trick: exact where that cancels, at the cost of a ``P x R x M`` intermediate.
"""
from __future__ import annotations

import math

import torch

from trtforge import Refusal
from trtforge.conversion import blocks as B
from trtforge.conversion.args import argument, node_argument, value_of

from ._util import converter, static_dims

aten = torch.ops.aten


def _p_norm(ctx, diff, p: float):
    """The ``p``-norm of ``diff`` over its last dimension (p = 0 counts non-zeros, inf is the max)."""
    last = len(diff.shape) - 1
    if p == 0:
        return B.reduce(ctx, B.cast(ctx, B.compare(ctx, "ne", diff, 0), torch.float32), "SUM", [last])
    a = B.unary(ctx, "ABS", diff)
    if math.isinf(p):
        return B.reduce(ctx, a, "MAX", [last])
    if p == 1:
        return B.reduce(ctx, a, "SUM", [last])
    if p == 2:
        return B.unary(ctx, "SQRT", B.reduce(ctx, B.elementwise(ctx, "PROD", a, a), "SUM", [last]))
    total = B.reduce(ctx, B.elementwise(ctx, "POW", a, float(p)), "SUM", [last])
    return B.elementwise(ctx, "POW", total, 1.0 / p)


def _cdist(ctx, x1, x2, p: float):
    x1, x2 = ctx.to_trt(x1), ctx.to_trt(x2)
    r1, r2 = len(x1.shape), len(x2.shape)
    diff = B.elementwise(ctx, "SUB", B.unsqueeze(ctx, x1, r1 - 1), B.unsqueeze(ctx, x2, r2 - 2))
    return _p_norm(ctx, diff, p)


def _p_ok(node, settings):
    p = node_argument(node, "p")
    return True if isinstance(p, (int, float)) and p >= 0 else Refusal(f"p={p}")


_CDIST = (aten.cdist.default, aten._cdist_forward.default)


@converter(*_CDIST, validator=_p_ok)
def cdist(ctx, target, args, kwargs, name):
    """Every row of ``x1`` against every row of ``x2`` (batch dimensions broadcast)."""
    return B.cast(ctx, _cdist(ctx, args[0], args[1], float(argument(target, args, kwargs, "p"))), ctx.output_dtype())


def _pdist_ok(node, settings):
    if not static_dims(node.args[0], [0]) or value_of(node.args[0]).shape[0] < 2:
        return Refusal("pdist of a dynamic number of rows, or of fewer than 2")
    return _p_ok(node, settings)


@converter(aten.pdist.default, aten._pdist_forward.default, validator=_pdist_ok)
def pdist(ctx, target, args, kwargs, name):
    """The upper triangle (row-major, i < j) of the ``N x N`` distance matrix, gathered at constant indices."""
    x = ctx.to_trt(args[0])
    n = x.shape[0]
    full = B.reshape(ctx, _cdist(ctx, x, x, float(argument(target, args, kwargs, "p"))), [n * n])
    rows, cols = torch.triu_indices(n, n, offset=1)
    layer = ctx.net.add_gather(full, ctx.constant(rows * n + cols), 0)
    return B.cast(ctx, ctx.out(layer, "pdist"), ctx.output_dtype())
