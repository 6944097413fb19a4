"""Scatter family: scatter (src, value, reduce), scatter_add, scatter_reduce, slice_scatter, select_scatter.

Plain scatter is TensorRT's element scatter; every reducing variant goes through
:func:`._indexing.scatter_reduce`, exact with duplicate indices.
"""
from __future__ import annotations

import torch

from trtforge import Refusal
from trtforge.conversion import blocks as B

from ._indexing import along, arange, scatter_reduce
from ._util import arg, converter, node_arg, scalar_value

aten = torch.ops.aten

#: torch's reduce names -> (TensorRT reduce op, mean)
_REDUCE = {"sum": ("SUM", False), "add": ("SUM", False), "prod": ("PROD", False), "multiply": ("PROD", False),
           "amax": ("MAX", False), "amin": ("MIN", False), "mean": ("SUM", True)}


def _element_scatter(ctx, x, dim, index, updates):
    """``x.scatter(dim, index, updates)`` where ``updates`` has ``index``'s shape."""
    dtype = ctx.torch_dtype(x)
    layer = ctx.net.add_scatter(x, ctx.cast(ctx.to_trt(index), torch.int64), B.cast(ctx, updates, dtype),
                                ctx.trt.ScatterMode.ELEMENT)
    layer.axis = B.normalize_dim(dim, len(x.shape))
    return ctx.out(layer, "scatter")


def _reduce_ok(node, settings):
    reduce = node_arg(node, 4, "reduce")
    return True if reduce is None or reduce in _REDUCE else Refusal(f"scatter reduce={reduce!r}")


@converter(aten.scatter.src, aten.scatter.value, aten.scatter.reduce, aten.scatter.value_reduce,
           validator=_reduce_ok)
def scatter(ctx, target, args, kwargs, name):
    x, dim, index, src = ctx.to_trt(args[0]), args[1], ctx.to_trt(args[2]), args[3]
    dtype = ctx.torch_dtype(x)
    if target._overloadname in ("value", "value_reduce"):
        src = B.fill(ctx, B.sizes(ctx, index), scalar_value(src), dtype)
    reduce = arg(args, kwargs, 4, "reduce")
    if reduce is not None:
        op, _ = _REDUCE[reduce]
        return scatter_reduce(ctx, x, dim, index, src, op, include_self=True)
    src = ctx.to_trt(src)
    rank = len(index.shape)
    if not (B.is_static(src) and B.is_static(index) and tuple(src.shape) == tuple(index.shape)):
        src = B.slice_nd(ctx, src, [0] * rank, B.sizes(ctx, index), [1] * rank)
    return _element_scatter(ctx, x, dim, index, src)


@converter(aten.scatter_add.default)
def scatter_add(ctx, target, args, kwargs, name):
    return scatter_reduce(ctx, args[0], args[1], args[2], args[3], "SUM", include_self=True)


def _reduce_two_ok(node, settings):
    reduce = node_arg(node, 4, "reduce")
    return True if reduce in _REDUCE else Refusal(f"scatter_reduce reduce={reduce!r}")


@converter(aten.scatter_reduce.two, validator=_reduce_two_ok)
def scatter_reduce_two(ctx, target, args, kwargs, name):
    op, mean = _REDUCE[args[4]]
    include_self = bool(arg(args, kwargs, 5, "include_self", True))
    return scatter_reduce(ctx, args[0], args[1], args[2], args[3], op, include_self, mean=mean)


def _step_ok(node, settings):
    step = node_arg(node, 5, "step", 1)
    return True if isinstance(step, int) and step > 0 else Refusal(f"slice_scatter step {step}")


@converter(aten.slice_scatter.default, validator=_step_ok)
def slice_scatter(ctx, target, args, kwargs, name):
    """``x[..., start:end:step, ...] = src``: an element scatter at ``start + step * arange``."""
    x, src = ctx.to_trt(args[0]), ctx.to_trt(args[1])
    rank = len(x.shape)
    dim = B.normalize_dim(arg(args, kwargs, 2, "dim", 0), rank)
    start, step = arg(args, kwargs, 3, "start"), arg(args, kwargs, 5, "step", 1)
    return _strided_scatter(ctx, x, src, dim, B.clamp_index(ctx, 0 if start is None else start, B.size(ctx, x, dim)),
                            step)


def _strided_scatter(ctx, x, src, dim, start, step):
    rank = len(x.shape)
    count = B.size(ctx, src, dim)
    positions = B.elementwise(ctx, "PROD", arange(ctx, count), step)
    if ctx.is_tensor(start) or start != 0:
        positions = B.elementwise(ctx, "SUM", positions, B.reshape(ctx, B.as_size_tensor(ctx, start), []))
    index = B.expand(ctx, along(ctx, positions, dim, rank), B.sizes(ctx, src))
    return _element_scatter(ctx, x, dim, index, src)


@converter(aten.select_scatter.default)
def select_scatter(ctx, target, args, kwargs, name):
    """``x.select(dim, i) = src``: ``src`` gains ``dim`` back and is written at ``i``."""
    x, src, dim, i = ctx.to_trt(args[0]), args[1], args[2], args[3]
    dim = B.normalize_dim(dim, len(x.shape))
    n = B.size(ctx, x, dim)
    start = B.dim_arith(ctx, "add", n, i) if not ctx.is_tensor(i) and i < 0 else i
    return _strided_scatter(ctx, x, B.unsqueeze(ctx, src, dim), dim, start, 1)
