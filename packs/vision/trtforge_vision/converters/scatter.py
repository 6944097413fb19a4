"""Scatter family: scatter (src, value, reduce), scatter_add, scatter_reduce, slice_scatter, select_scatter.

Plain scatter is TensorRT's element scatter; every reducing variant goes through
:func:`._indexing.scatter_reduce`, exact with duplicate indices.
"""
from __future__ import annotations

import torch

from trtforge import Refusal
from trtforge.conversion import blocks as B
from trtforge.conversion.args import argument, node_argument

from ._indexing import along, scatter_reduce
from ._util import converter, scalar_value

aten = torch.ops.aten

#: torch's reduce names -> (TensorRT reduce op, mean)
_REDUCE = {"sum": ("SUM", False), "add": ("SUM", False), "prod": ("PROD", False), "multiply": ("PROD", False),
           "amax": ("MAX", False), "amin": ("MIN", False), "mean": ("SUM", True)}


def _element_scatter(ctx, x, dim, index, updates):
    """``x.scatter(dim, index, updates)`` where ``updates`` has ``index``'s shape."""
    dtype = ctx.torch_dtype(x)
    layer = ctx.net.add_scatter(x, B.cast(ctx, ctx.to_trt(index), torch.int64), B.cast(ctx, updates, dtype),
                                ctx.trt.ScatterMode.ELEMENT)
    layer.axis = B.normalize_dim(dim, len(x.shape))
    return ctx.out(layer, "scatter")


def _reduce_ok(node, settings):
    reduce = node_argument(node, "reduce", default=None)  # the src/value overloads have none
    return True if reduce is None or reduce in _REDUCE else Refusal(f"scatter reduce={reduce!r}")


@converter(aten.scatter.src, aten.scatter.value, aten.scatter.reduce, aten.scatter.value_reduce,
           validator=_reduce_ok)
def scatter(ctx, target, args, kwargs, name):
    x, dim, index, src = ctx.to_trt(args[0]), args[1], ctx.to_trt(args[2]), args[3]
    dtype = ctx.torch_dtype(x)
    if target._overloadname in ("value", "value_reduce"):
        src = B.fill(ctx, B.sizes(ctx, index), scalar_value(src), dtype)
    reduce = argument(target, args, kwargs, "reduce", default=None)
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
    reduce = node_argument(node, "reduce")
    return True if reduce in _REDUCE else Refusal(f"scatter_reduce reduce={reduce!r}")


@converter(aten.scatter_reduce.two, validator=_reduce_two_ok)
def scatter_reduce_two(ctx, target, args, kwargs, name):
    op, mean = _REDUCE[argument(target, args, kwargs, "reduce")]
    include_self = bool(argument(target, args, kwargs, "include_self"))
    return scatter_reduce(ctx, args[0], args[1], args[2], args[3], op, include_self, mean=mean)


def _step_ok(node, settings):
    step = node_argument(node, "step")
    return True if isinstance(step, int) and step > 0 else Refusal(f"slice_scatter step {step}")


@converter(aten.slice_scatter.default, validator=_step_ok)
def slice_scatter(ctx, target, args, kwargs, name):
    """``x[..., start:end:step, ...] = src``: an element scatter at ``start + step * arange``."""
    x, src = ctx.to_trt(args[0]), ctx.to_trt(args[1])
    rank = len(x.shape)
    dim = B.normalize_dim(argument(target, args, kwargs, "dim"), rank)
    start, step = argument(target, args, kwargs, "start"), argument(target, args, kwargs, "step")
    return _strided_scatter(ctx, x, src, dim, B.clamp_index(ctx, 0 if start is None else start, B.size(ctx, x, dim)),
                            step)


def _strided_scatter(ctx, x, src, dim, start, step):
    rank = len(x.shape)
    count = B.size(ctx, src, dim)
    positions = B.elementwise(ctx, "PROD", B.arange(ctx, count), step)
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
