"""Reductions (sum/mean/amax/amin/prod/var/std/any/all), arg/max with indices, softmax, cumsum/cumprod."""
from __future__ import annotations

import torch

from trtforge import Refusal
from trtforge.conversion import blocks as B
from trtforge.conversion.args import argument, dtype_of, node_argument
from trtforge.conversion.bounds import layer_limits

from ._util import converter, float_input

aten = torch.ops.aten


def _dims(d) -> list[int] | None:
    if d is None:
        return None
    return [d] if isinstance(d, int) else list(d)


def _prepared(ctx, x, out_dtype: torch.dtype):
    """Reduce layers work on float and int32/int64, not bool: compute in the output dtype."""
    return B.cast(ctx, x, out_dtype)


def _reduced(target, args, kwargs) -> tuple[list[int] | None, bool]:
    """(dims, keepdim) of a reduction; the overloads without ``dim`` reduce everything."""
    dims = _dims(argument(target, args, kwargs, "dim", default=None))
    return dims, bool(argument(target, args, kwargs, "keepdim", default=False))


@converter(aten.sum.dim_IntList, aten.sum.default, aten.mean.dim, aten.mean.default, aten.prod.dim_int,
           aten.prod.default)
def sum_mean_prod(ctx, target, args, kwargs, name):
    op = {aten.sum: "SUM", aten.mean: "AVG", aten.prod: "PROD"}[target.overloadpacket]
    dims, keep = _reduced(target, args, kwargs)
    x = _prepared(ctx, args[0], ctx.output_dtype())
    if op in ("AVG", "SUM"):  # accumulate half inputs in float32, as torch does
        x = B.upcast(ctx, x)
    y = B.reduce(ctx, x, op, dims, keep)
    return B.cast(ctx, y, ctx.output_dtype())


@converter(aten.amax.default, aten.amin.default, aten.max.default, aten.min.default)
def amax_amin(ctx, target, args, kwargs, name):
    op = "MAX" if target.overloadpacket in (aten.amax, aten.max) else "MIN"
    dims, keep = _reduced(target, args, kwargs)  # amax's default dim=[] reduces everything too
    x = args[0]
    if ctx.torch_dtype(x) == torch.bool:
        return B.cast(ctx, B.reduce(ctx, B.cast(ctx, x, torch.int32), op, dims, keep), torch.bool)
    return B.reduce(ctx, x, op, dims, keep)


@converter(aten.any.default, aten.any.dim, aten.any.dims, aten.all.default, aten.all.dim, aten.all.dims)
def any_all(ctx, target, args, kwargs, name):
    """any = max of (x != 0), all = min of it."""
    op = "MAX" if target.overloadpacket is aten.any else "MIN"
    dims, keep = _reduced(target, args, kwargs)
    truth = B.cast(ctx, B.cast(ctx, args[0], torch.bool), torch.int32)
    return B.cast(ctx, B.reduce(ctx, truth, op, dims, keep), torch.bool)


def _var(ctx, x, dims, correction, keepdim):
    """Sum of squared deviations / (N - correction), in float32 for half inputs."""
    x = B.upcast(ctx, B.to_float(ctx, x))
    rank = len(x.shape)
    dims = list(range(rank)) if not dims else [B.normalize_dim(d, rank) for d in dims]
    mean = B.reduce(ctx, x, "AVG", dims, keepdim=True)
    dev = B.elementwise(ctx, "SUB", x, mean)
    ss = B.reduce(ctx, B.elementwise(ctx, "PROD", dev, dev), "SUM", dims, keepdim)
    n = B.dim_arith(ctx, "sub", B.numel_of(ctx, x, dims), correction)
    denom = B.cast(ctx, B.reshape(ctx, B.as_size_tensor(ctx, n), []), torch.float32) if ctx.is_tensor(n) else float(n)
    return B.elementwise(ctx, "DIV", ss, denom), mean


def _correction_ok(node, settings):
    c = node_argument(node, "correction")
    return True if c is None or float(c).is_integer() else Refusal(f"non-integer correction {c}")


@converter(aten.var.correction, aten.std.correction, validator=_correction_ok)
def var_std(ctx, target, args, kwargs, name):
    dims, keep = _reduced(target, args, kwargs)
    corr = argument(target, args, kwargs, "correction")
    v, _ = _var(ctx, args[0], dims, int(1 if corr is None else corr), keep)
    if target is aten.std.correction:
        v = B.unary(ctx, "SQRT", v)
    return B.cast(ctx, v, ctx.output_dtype())


@converter(aten.var_mean.correction, validator=_correction_ok)
def var_mean(ctx, target, args, kwargs, name):
    dims, keep = _reduced(target, args, kwargs)
    corr = argument(target, args, kwargs, "correction")
    v, mean = _var(ctx, args[0], dims, int(1 if corr is None else corr), keep)
    if not keep:
        mean = B.squeeze(ctx, mean, dims or None)
    out = ctx.output_dtype(0)
    return [B.cast(ctx, v, out), B.cast(ctx, mean, out)]


def _topk1(ctx, x, dim: int, largest: bool):
    """Max/min along ``dim`` with its index (TopK k=1); keeps the dim; indices int64 like torch.

    The backend's TopK limits (``layer_limits``) shape the input: below the minimum rank (2 on
    TensorRT-RTX) it gets leading size-1 dimensions, removed afterwards (a 0-d input comes back as
    ``[1]``); an axis further from the end than TopK reduces is moved last and back.
    """
    limits = layer_limits(ctx.current_node)
    x = ctx.to_trt(x)
    dtype, rank = ctx.torch_dtype(x), len(x.shape)
    n = limits.input_rank("TOPK", rank)
    lift = n - max(rank, 1)  # leading dimensions added (a 0-d input counts as [1])
    lifted = B.to_rank(ctx, x, n)
    dim = B.normalize_dim(dim, rank) + lift
    order = list(range(n))
    if dim < n - limits.topk_axis_from_end:
        order = [d for d in range(n) if d != dim] + [dim]
        lifted = B.permute(ctx, lifted, order)
    if dtype == torch.bool:
        lifted = B.cast(ctx, lifted, torch.int32)
    op = ctx.trt.TopKOperation.MAX if largest else ctx.trt.TopKOperation.MIN
    layer = ctx.net.add_topk(lifted, op, 1, B.axes_mask([order.index(dim)], n))
    ctx.name(layer, "topk")
    values = B.cast(ctx, layer.get_output(0), dtype)
    idx = B.cast(ctx, layer.get_output(1), torch.int64)
    if order != list(range(n)):
        back = [order.index(d) for d in range(n)]
        values, idx = B.permute(ctx, values, back), B.permute(ctx, idx, back)
    if lift:
        values, idx = (B.squeeze(ctx, t, list(range(lift))) for t in (values, idx))
    return values, idx


@converter(aten.argmax.default, aten.argmin.default)
def argmax_argmin(ctx, target, args, kwargs, name):
    dim, keep = argument(target, args, kwargs, "dim"), bool(argument(target, args, kwargs, "keepdim"))
    x, flat = args[0], dim is None
    if flat:
        x, dim = B.reshape(ctx, x, [-1]), 0
    _, idx = _topk1(ctx, x, dim, target is aten.argmax.default)
    if flat:
        return B.reshape(ctx, idx, [1] * len(args[0].shape)) if keep else B.reshape(ctx, idx, [])
    return idx if keep else B.squeeze(ctx, idx, [dim])


@converter(aten.max.dim, aten.min.dim)
def max_min_dim(ctx, target, args, kwargs, name):
    dim, keep = args[1], bool(argument(target, args, kwargs, "keepdim"))
    values, idx = _topk1(ctx, args[0], dim, target is aten.max.dim)
    if not keep and len(args[0].shape):
        values, idx = B.squeeze(ctx, values, [dim]), B.squeeze(ctx, idx, [dim])
    elif not len(args[0].shape):
        values, idx = B.reshape(ctx, values, []), B.reshape(ctx, idx, [])
    return [values, idx]


def _softmax_ok(node, settings):
    if node_argument(node, "half_to_float"):
        return Refusal("half_to_float=True")
    return float_input(node, settings)


@converter(aten._softmax.default, aten._log_softmax.default, validator=_softmax_ok)
def softmax(ctx, target, args, kwargs, name):
    if target is aten._softmax.default:
        return B.softmax(ctx, args[0], args[1])
    return B.log_softmax(ctx, args[0], args[1])


def _triangular(ctx, x, dim: int, op: str):
    """Inclusive scan along ``dim`` as a reduction over a lower-triangular mask: exact for integers
    (TensorRT's cumulative layer takes floats and only sums). Costs ``numel * length`` elements."""

    rank = len(x.shape)
    dim = B.normalize_dim(dim, rank)
    order = [d for d in range(rank) if d != dim] + [dim]
    last = B.permute(ctx, x, order) if dim != rank - 1 else x
    pos = B.arange(ctx, B.size(ctx, x, dim))
    keep = B.compare(ctx, "ge", B.unsqueeze(ctx, pos, 1), B.unsqueeze(ctx, pos, 0))  # [i, j]: j <= i
    terms = B.where(ctx, keep, B.unsqueeze(ctx, last, rank - 1), 0 if op == "SUM" else 1, dtype=ctx.torch_dtype(x))
    y = B.reduce(ctx, terms, op, [rank], keepdim=False)
    return B.permute(ctx, y, [order.index(d) for d in range(rank)]) if dim != rank - 1 else y


def _scan_ok(node, settings):
    dt = dtype_of(node)
    return True if dt is not None and not dt.is_complex and dt != torch.bool else Refusal(f"scan in {dt}")


@converter(aten.cumsum.default, aten.cumprod.default, validator=_scan_ok)
def cumsum(ctx, target, args, kwargs, name):
    """cumsum/cumprod; float cumsum is TensorRT's cumulative layer, the rest a triangular reduction."""
    x = B.cast(ctx, args[0], ctx.output_dtype())
    rank = len(x.shape)
    if rank == 0:
        return x
    if target is aten.cumsum.default and ctx.torch_dtype(x).is_floating_point:
        axis = ctx.constant(torch.tensor(B.normalize_dim(args[1], rank), dtype=torch.int32))
        layer = ctx.net.add_cumulative(x, axis, ctx.trt.CumulativeOperation.SUM, False, False)
        return ctx.out(layer, "cumsum")
    return _triangular(ctx, x, args[1], "SUM" if target is aten.cumsum.default else "PROD")
