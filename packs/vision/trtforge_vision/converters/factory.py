"""Constants and factories (full/zeros/ones/empty/*_like, arange, scalar_tensor) and the
SymInt plumbing of dynamic shapes (sym_size and size arithmetic as shape tensors)."""
from __future__ import annotations

import operator

import torch

from trtforge import Refusal
from trtforge.conversion import blocks as B
from trtforge.conversion.args import argument, value_of

from ._util import converter, scalar_value

aten = torch.ops.aten


def _shape_from(ctx, requested) -> list:
    """Requested sizes, with dimensions torch knows statically as ints."""
    meta = getattr(ctx.meta(), "shape", None)
    out = list(requested)
    if meta is not None and len(meta) == len(out):
        out = [int(m) if isinstance(m, int) else r for m, r in zip(meta, out)]
    return out


def _filled(ctx, shape, value, dtype):
    """``shape`` filled with ``value``: a Python number, or a SymInt computed in the network."""
    if ctx.is_tensor(value):
        scalar = B.reshape(ctx, B.cast(ctx, value, dtype), [1] * len(shape))
        return B.expand(ctx, scalar, list(shape))
    return B.fill(ctx, shape, scalar_value(value), dtype)


@converter(aten.full.default)
def full(ctx, target, args, kwargs, name):
    return _filled(ctx, _shape_from(ctx, args[0]), args[1], ctx.output_dtype())


@converter(aten.empty.memory_format, aten.empty_permuted.default)
def empty(ctx, target, args, kwargs, name):
    """Uninitialised memory in torch; zeros here (any content is a valid result)."""
    return B.fill(ctx, _shape_from(ctx, args[0]), 0, ctx.output_dtype())


@converter(aten.full_like.default)
def full_like(ctx, target, args, kwargs, name):
    return _filled(ctx, B.sizes(ctx, args[0]), args[1], ctx.output_dtype())


@converter(aten.scalar_tensor.default)
def scalar_tensor(ctx, target, args, kwargs, name):
    return _filled(ctx, [], args[0], ctx.output_dtype())


def _arange_range(target, args, kwargs) -> tuple:
    """(start, end, step) of any arange overload (arange(end) starts at 0; only start_step has a step)."""
    return (argument(target, args, kwargs, "start", default=0), argument(target, args, kwargs, "end"),
            argument(target, args, kwargs, "step", default=1))


def _arange_ok(node, settings):
    start, end, step = _arange_range(node.target, node.args, node.kwargs)
    if isinstance(step, torch.fx.Node):
        return Refusal("arange with a dynamic step")
    fixed = [a for a in (start, end) if not isinstance(a, torch.fx.Node)]
    dynamic = any(isinstance(a, torch.fx.Node) for a in (start, end))
    if dynamic and not all(isinstance(v, int) for v in fixed + [step]):
        return Refusal("arange with a dynamic bound and a non-integer start or step")
    return True


@converter(aten.arange.start_step, aten.arange.default, aten.arange.start, validator=_arange_ok)
def arange(ctx, target, args, kwargs, name):
    start, end, step = _arange_range(target, args, kwargs)
    dtype = ctx.output_dtype()
    if not ctx.is_tensor(start) and not ctx.is_tensor(end):
        return ctx.constant(torch.arange(start, end, step, dtype=dtype))
    count = B.dim_arith(ctx, "max", B.dim_arith(ctx, "ceildiv", B.dim_arith(ctx, "sub", end, start), step), 0)
    fill_dtype = torch.float32 if dtype.is_floating_point else torch.int64
    layer = ctx.net.add_fill((1,), ctx.trt.FillOperation.LINSPACE, ctx.trt.DataType.FLOAT if fill_dtype.is_floating_point
                             else ctx.trt.DataType.INT64)
    layer.set_input(0, B.as_size_tensor(ctx, count))
    layer.set_input(1, B.reshape(ctx, B.cast(ctx, ctx.to_trt(start if ctx.is_tensor(start) else
                                                                 torch.tensor([start])), fill_dtype), []))
    layer.set_input(2, ctx.constant(torch.tensor([step], dtype=fill_dtype)))
    return B.cast(ctx, ctx.out(layer, "arange"), dtype)


# -- SymInt plumbing ------------------------------------------------------------------
def _is_symint(node, settings):
    v = value_of(node)
    return True if isinstance(v, (torch.SymInt, int)) and not isinstance(v, bool) else Refusal(
        f"not a SymInt computation (value {type(v).__name__})")


@converter(aten.sym_size.int, validator=_is_symint)
def sym_size(ctx, target, args, kwargs, name):
    """A dynamic dimension as a 1-element int64 shape tensor, for view/expand/full size lists."""
    return B.as_size_tensor(ctx, B.size(ctx, args[0], args[1]))


_SYM_OPS = {operator.add: "add", operator.sub: "sub", operator.mul: "mul", operator.floordiv: "floordiv",
            operator.mod: "mod", torch.sym_max: "max", torch.sym_min: "min"}


@converter(*_SYM_OPS, validator=_is_symint)
def sym_arith(ctx, target, args, kwargs, name):
    return B.as_size_tensor(ctx, B.dim_arith(ctx, _SYM_OPS[target], args[0], args[1]))


@converter(operator.neg, validator=_is_symint)
def sym_neg(ctx, target, args, kwargs, name):
    return B.as_size_tensor(ctx, B.dim_arith(ctx, "mul", args[0], -1))
