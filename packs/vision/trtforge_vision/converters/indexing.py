"""Advanced indexing: ``x[i, j]`` (index.Tensor), ``x[i, j] = v`` (index_put), index_copy, index_add,
and searchsorted (indices of insertion points)."""
from __future__ import annotations

import torch

from trtforge import Refusal
from trtforge.conversion import blocks as B
from trtforge.conversion.args import argument, dtype_of, node_argument

from ._indexing import Indexed, index_values
from ._util import converter, scalar_value

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


def _put_ok(node, settings):
    ints, masks = _index_kinds(node.args[1])
    if masks:
        return Refusal(f"boolean mask index at position(s) {masks} (the dds_ops pack converts x[mask] = v)")
    return True if ints else Refusal("no index tensor")


@converter(aten.index_put.default, validator=_put_ok)
def index_put(ctx, target, args, kwargs, name):
    """``x[i, j] = v`` as a ScatterND; ``x[i, j] += v`` (accumulate) sums duplicates exactly."""
    accumulate = bool(argument(target, args, kwargs, "accumulate"))
    return Indexed(ctx, ctx.to_trt(args[0]), list(args[1])).put(ctx, args[2], accumulate)


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
    alpha = scalar_value(argument(target, args, kwargs, "alpha"))
    if alpha != 1:
        src = B.elementwise(ctx, "PROD", src, alpha, dtype=ctx.torch_dtype(x))
    return Indexed(ctx, x, _dim_indices(len(x.shape), dim, idx)).put(ctx, src, accumulate=True)



def _searchsorted_ok(node, settings):
    if node_argument(node, "sorter") is not None:
        return Refusal("searchsorted with a sorter permutation")
    return True


@converter(aten.searchsorted.Tensor, aten.searchsorted.Scalar, validator=_searchsorted_ok)
def searchsorted(ctx, target, args, kwargs, name):
    right = bool(argument(target, args, kwargs, "right")) or argument(target, args, kwargs, "side") == "right"
    return _insertion_points(ctx, args[0], args[1], right)


@converter(aten.bucketize.Tensor)
def bucketize(ctx, target, args, kwargs, name):
    return _insertion_points(ctx, args[1], args[0], bool(argument(target, args, kwargs, "right")))


def _insertion_points(ctx, seq, values, right: bool):
    """How many sorted entries lie below each value (``<``, or ``<=`` when ``right``): a
    comparison against every entry and a sum, so ``values x sequence length`` elements."""
    seq = ctx.to_trt(seq)
    values = ctx.to_trt(values if ctx.is_tensor(values) else torch.tensor(scalar_value(values)))
    dtype = B.result_dtype(ctx, seq, values)
    seq, values = B.cast(ctx, seq, dtype), B.cast(ctx, values, dtype)
    if len(seq.shape) == 1:
        lifted = B.reshape(ctx, seq, [1] * len(values.shape) + [-1])
    else:
        lifted = B.unsqueeze(ctx, seq, len(seq.shape) - 1)
    below = B.compare(ctx, "le" if right else "lt", lifted, B.unsqueeze(ctx, values, len(values.shape)))
    count = B.reduce(ctx, B.cast(ctx, below, torch.int32), "SUM", [len(lifted.shape) - 1])
    return B.cast(ctx, count, ctx.output_dtype())
