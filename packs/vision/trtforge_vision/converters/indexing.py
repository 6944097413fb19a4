"""Advanced indexing: ``x[i, j]`` (index.Tensor), ``x[i, j] = v`` (index_put), index_copy, index_add."""
from __future__ import annotations

import torch

from trtforge import Refusal
from trtforge.conversion import blocks as B

from ._indexing import Indexed, index_values
from ._util import arg, converter, dtype_of, scalar_value, val

aten = torch.ops.aten

_INT = (torch.int64, torch.int32)


def _index_kinds(indices) -> tuple[list, list]:
    """Positions of integer and of boolean index tensors."""
    present = [(i, dtype_of(t)) for i, t in enumerate(indices) if t is not None]
    return [i for i, dt in present if dt in _INT], [i for i, dt in present if dt not in _INT]


def _index_ok(node, settings):
    ints, others = _index_kinds(node.args[1])
    if others:
        return Refusal(f"boolean mask index at position(s) {others}: it selects a data-dependent number of "
                       "elements (only integer index tensors convert here)")
    return True if ints else Refusal("no index tensor")


@converter(aten.index.Tensor, validator=_index_ok)
def index(ctx, target, args, kwargs, name):
    """``x[..., i, ..., j]``: one integer index is a gather on its dimension, several a GatherND
    of the broadcast indices (``None`` slices between them put the broadcast dimensions first, as torch)."""
    x, indices = ctx.to_trt(args[0]), list(args[1])
    present = [i for i, t in enumerate(indices) if t is not None]
    if len(present) == 1:
        dim = present[0]
        idx = index_values(ctx, indices[dim], B.size(ctx, x, dim))
        return ctx.out(ctx.net.add_gather(x, idx, dim), "index")
    return Indexed(ctx, x, indices).gather(ctx)


def _mask_put(node) -> bool:
    """``x[mask] = scalar``: one boolean mask over leading dimensions and a single value."""
    ints, masks = _index_kinds(node.args[1])
    values = val(node.args[2]) if isinstance(node.args[2], torch.fx.Node) else node.args[2]
    one = not isinstance(values, torch.Tensor) or values.numel() == 1
    return not ints and masks == [0] and len(node.args[1]) == 1 and one


def _put_ok(node, settings):
    ints, masks = _index_kinds(node.args[1])
    if _mask_put(node):
        return True
    if masks:
        return Refusal("index_put with a boolean mask other than x[mask] = <one value>: the number of "
                       "written elements depends on data")
    return True if ints else Refusal("no index tensor")


@converter(aten.index_put.default, validator=_put_ok)
def index_put(ctx, target, args, kwargs, name):
    """``x[i, j] = v`` as a ScatterND; ``x[i, j] += v`` (accumulate) sums duplicates exactly.

    ``x[mask] = v`` with one value is a select layer.
    """
    x, indices, values = ctx.to_trt(args[0]), list(args[1]), args[2]
    accumulate = bool(arg(args, kwargs, 3, "accumulate", False))
    if _mask_put(ctx.current_node):
        dtype = ctx.torch_dtype(x)
        mask = B.reshape(ctx, ctx.to_trt(indices[0]), B.sizes(ctx, ctx.to_trt(indices[0])) +
                         [1] * (len(x.shape) - len(indices[0].shape)))
        v = B.cast(ctx, ctx.to_trt(scalar_value(values), dtype) if not ctx.is_tensor(values) else values, dtype)
        v = B.reshape(ctx, v, [1] * len(x.shape))
        if accumulate:
            return B.elementwise(ctx, "SUM", x, B.where(ctx, mask, v, 0, dtype=dtype), dtype=dtype)
        return B.where(ctx, mask, v, x, dtype=dtype)
    return Indexed(ctx, x, indices).put(ctx, values, accumulate)


def _dim_indices(rank: int, dim: int, index) -> list:
    return [None] * B.normalize_dim(dim, rank) + [index]


@converter(aten.index_copy.default)
def index_copy(ctx, target, args, kwargs, name):
    """``x.index_copy(dim, index, src)``: rows ``index`` of ``x`` along ``dim`` replaced by ``src``."""
    x, dim, idx, src = ctx.to_trt(args[0]), args[1], args[2], args[3]
    return Indexed(ctx, x, _dim_indices(len(x.shape), dim, idx)).put(ctx, src, accumulate=False)


@converter(aten.index_add.default)
def index_add(ctx, target, args, kwargs, name):
    """``x.index_add(dim, index, src, alpha)``: duplicates in ``index`` add up."""
    x, dim, idx, src = ctx.to_trt(args[0]), args[1], args[2], args[3]
    alpha = scalar_value(arg(args, kwargs, 4, "alpha", 1))
    if alpha != 1:
        src = B.elementwise(ctx, "PROD", src, alpha, dtype=ctx.torch_dtype(x))
    return Indexed(ctx, x, _dim_indices(len(x.shape), dim, idx)).put(ctx, src, accumulate=True)

