"""Score ranking: ``aten.topk``, ``aten.sort`` and the stable rank NMS also uses.

TensorRT's TopK layer sorts but leaves equal values in an unspecified order,
as do torch's ``topk`` and unstable ``sort`` (CPU torch returns ties in
arbitrary order): there, only distinct values have one right answer.
``sort(stable=True)`` promises lower index first among equals; it is built
from :func:`stable_rank` (pairwise comparisons, ``O(N^2)`` memory) and a
scatter, so ties come out exactly as torch's, with no TopK size limit.
"""
from __future__ import annotations

from typing import Any

import torch
import trtforge
from trtforge.conversion import blocks
from trtforge.conversion.args import argument, node_argument, value_of
from trtforge.conversion.bounds import Bounds, bounds, layer_limits, shape_bounds

from trtforge.conversion.refusals import over_limit
from ._ops import Ops

#: longest axis sorted by pairwise ranking (N*N comparisons): this pack's memory bound, not a layer limit
STABLE_SORT_MAX = 4096
_TOPK_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.int32)
#: whose limit a TopK refusal names
_TOPK_LIMIT = "TensorRT's TopK layer supports 1 <= k <= {limit} (topk_max_k of the target backend's layer limits)"


def stable_rank(o: Ops, x: Any, descending: bool, n_max: int) -> Any:
    """Position of each element of ``x`` (along its last axis) in a stable sort: int32, same shape.

    ``rank[i]`` counts the ``j`` ordered before ``i``: strictly better, or equal with ``j < i``.
    """
    x_i, x_j = o.unsqueeze(x, -1), o.unsqueeze(x, -2)  # [..., N, 1], [..., 1, N]
    idx = o.iota(x, len(x.shape) - 1, n_max)
    earlier = o.lt(o.unsqueeze(idx, 0), o.unsqueeze(idx, 1))  # [i, j]: j < i
    better = o.gt(x_j, x_i) if descending else o.lt(x_j, x_i)
    ahead = o.or_(better, o.and_(o.eq(x_j, x_i), earlier))
    return o.sum(o.cast(ahead, torch.int32), [-1])


# -- validators -------------------------------------------------------------------
def _check_topk_layer(node: Any, x: Any, axis: int, k: Any, k_bounds: Bounds, what: str) -> Any:
    """What TensorRT's TopK layer takes: dtype, rank and reduced axis, and K (``k``, an int or
    SymInt, called ``what``) within the backend's limit at its largest."""
    limits = layer_limits(node)
    if x.dtype not in _TOPK_DTYPES:
        return trtforge.Refusal(f"TensorRT's TopK layer takes float and int32 values, not {x.dtype}")
    rank = limits.input_rank("TOPK", x.dim())
    why = limits.rank_refusal("TOPK", rank)
    if why:
        return trtforge.Refusal(why)
    if max(x.dim(), 1) - axis > limits.topk_axis_from_end:
        return trtforge.Refusal(
            f"TensorRT's TopK layer reduces one of the last {limits.topk_axis_from_end} dimensions")
    supports = _TOPK_LIMIT.format(limit=limits.topk_max_k)
    if isinstance(k, int) and not 1 <= k <= limits.topk_max_k:
        return trtforge.Refusal(f"{what}: {supports}")
    if k_bounds.min < 1:
        return trtforge.Refusal(f"{what} can be {k_bounds.min}: {supports}")
    refused = over_limit(node, [k], k_bounds, limits.topk_max_k, what, supports)
    return refused if refused is not None else True


def _validate_topk(node: Any, settings: Any) -> Any:
    k = node_argument(node, "k")
    k_value = value_of(k)
    if not isinstance(k_value, (int, torch.SymInt)):
        return trtforge.Refusal("k must be a constant or a size")
    if not node_argument(node, "sorted"):
        return trtforge.Refusal(
            "sorted=False: torch returns an unspecified order that TensorRT's sorted output cannot match"
        )
    x = value_of(node_argument(node, "self"))
    axis = blocks.normalize_dim(node_argument(node, "dim"), max(x.dim(), 1))
    what = f"k={k_value}" if isinstance(k_value, int) else f"k (the size {k_value})"
    return _check_topk_layer(node, x, axis, k_value, bounds(k), what)


def _sort_args(target: Any, args: Any, kwargs: Any) -> tuple[int, bool, bool]:
    """``(dim, descending, stable)``: ``sort.stable`` takes them as keywords, ``sort.default`` by position."""
    stable = argument(target, args, kwargs, "stable", default=False)
    return argument(target, args, kwargs, "dim"), bool(argument(target, args, kwargs, "descending")), bool(stable)


def _validate_sort(node: Any, settings: Any) -> Any:
    dim, _, stable = _sort_args(node.target, node.args, node.kwargs)
    source = node_argument(node, "self")
    x = value_of(source)
    if x.dim() == 0:
        return trtforge.Refusal("sort of a 0-d tensor: nothing to sort")
    axis = blocks.normalize_dim(dim, x.dim())
    n, n_bounds = x.shape[axis], shape_bounds(source)[axis]
    if not stable:
        what = f"the sorted axis (TopK's k) of {n} elements" if isinstance(n, int) else "the sorted axis (TopK's k)"
        return _check_topk_layer(node, x, axis, n, n_bounds, what)
    if x.dtype not in _TOPK_DTYPES:
        return trtforge.Refusal(f"sort of {x.dtype} values")
    refused = over_limit(node, [n], n_bounds, STABLE_SORT_MAX, "the sorted axis",
                         f"the exact tie order of a stable sort needs N*N comparisons (this pack's limit: "
                         f"N <= {STABLE_SORT_MAX})")
    return refused if refused is not None else True


# -- converters -------------------------------------------------------------------
def _topk_layer(ctx: Any, x: Any, k: Any, axis: int, largest: bool) -> tuple[Any, Any]:
    """TopK along ``axis``; indices as int64. ``k``: an int, or a size tensor (``[1]`` or 0-d).

    An input below TopK's smallest rank (the backend's ``min_input_rank``) gets leading size-1
    dimensions, removed again from the results.
    """
    o = Ops(ctx)
    rank = len(x.shape)
    lifted = layer_limits(ctx.current_node).input_rank("TOPK", rank)
    x2 = blocks.to_rank(ctx, x, lifted)
    axis += lifted - max(rank, 1)
    op = ctx.trt.TopKOperation.MAX if largest else ctx.trt.TopKOperation.MIN
    layer = ctx.net.add_topk(x2, op, k if isinstance(k, int) else 1, 1 << axis)
    if not isinstance(k, int):
        layer.set_input(1, blocks.reshape(ctx, k, []))
    ctx.name(layer, "topk")
    values, indices = layer.get_output(0), o.cast(layer.get_output(1), torch.int64)
    if lifted > rank:
        values, indices = (blocks.squeeze(ctx, t, range(lifted - rank)) for t in (values, indices))
    return values, indices


@trtforge.converter(torch.ops.aten.topk.default, supports_dynamic_shapes=True, capability_validator=_validate_topk)
def convert_topk(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> Any:
    """``(values, int64 indices)``, largest (or smallest) first; ``k`` a constant or a size."""
    x, k = ctx.to_trt(args[0]), argument(target, args, kwargs, "k")
    axis = blocks.normalize_dim(argument(target, args, kwargs, "dim"), max(len(x.shape), 1))
    return _topk_layer(ctx, x, k, axis, bool(argument(target, args, kwargs, "largest")))


@trtforge.converter(torch.ops.aten.sort.default, torch.ops.aten.sort.stable, supports_dynamic_shapes=True,
                    capability_validator=_validate_sort)
def convert_sort(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> Any:
    """``(values, int64 indices)``: a full-length TopK, or a stable rank + scatter when ``stable=True``."""
    o = Ops(ctx)
    x = ctx.to_trt(args[0])
    dim, descending, stable = _sort_args(target, args, kwargs)
    axis = blocks.normalize_dim(dim, len(x.shape))
    if not stable:
        k = x.shape[axis] if x.shape[axis] >= 0 else blocks.dim_size(ctx, x, axis)
        return _topk_layer(ctx, x, k, axis, descending)
    n_max = shape_bounds(node_argument(ctx.current_node, "self"))[axis].max
    last = len(x.shape) - 1
    order = list(range(len(x.shape)))
    order[axis], order[last] = last, axis
    xt = o.permute(x, order)
    rank = stable_rank(o, xt, descending, n_max)
    positions = o.add(o.mul(rank, 0), o.iota(xt, last, n_max))  # arange broadcast to rank's shape
    scatter = ctx.net.add_scatter(o.mul(rank, 0), rank, positions, ctx.trt.ScatterMode.ELEMENT)
    scatter.axis = last
    perm = ctx.out(scatter, "scatter")  # perm[rank[i]] = i
    gather = ctx.net.add_gather(xt, perm, last)
    gather.mode = ctx.trt.GatherMode.ELEMENT
    values = ctx.out(gather, "gather")
    return o.permute(values, order), o.permute(o.cast(perm, torch.int64), order)
