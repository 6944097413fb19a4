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

from ._ops import Ops, arg_val, dim_upper_bound

#: largest k TensorRT's TopK layer supports
TOPK_MAX_K = 3840
#: longest axis sorted by pairwise ranking (N*N comparisons)
STABLE_SORT_MAX = 4096
_TOPK_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.int32)


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
def _axis_info(node: Any, dim: int) -> tuple[Any, int, int | None]:
    x = arg_val(node, 0)
    rank = max(x.dim(), 1)
    axis = blocks.normalize_dim(dim, rank)
    n = dim_upper_bound(x.shape[axis]) if x.dim() else 1
    return x, axis, n


def _check_topk_layer(x: Any, axis: int, k: int | None) -> Any:
    if x.dtype not in _TOPK_DTYPES:
        return trtforge.Refusal(f"TensorRT's TopK layer takes float and int32 values, not {x.dtype}")
    if x.dim() > 4 and axis < x.dim() - 4:
        return trtforge.Refusal("TensorRT's TopK layer reduces one of the last four dimensions")
    if k is None or not 1 <= k <= TOPK_MAX_K:
        return trtforge.Refusal(f"k={k}: TensorRT's TopK layer supports 1 <= k <= {TOPK_MAX_K}")
    return True


def _validate_topk(node: Any, settings: Any) -> Any:
    args = list(node.args) + [None] * 5
    k = args[1]
    dim = args[2] if args[2] is not None else node.kwargs.get("dim", -1)
    is_sorted = args[4] if args[4] is not None else node.kwargs.get("sorted", True)
    if not isinstance(k, int):
        return trtforge.Refusal("k must be a constant")
    if not is_sorted:
        return trtforge.Refusal(
            "sorted=False: torch returns an unspecified order that TensorRT's sorted output cannot match"
        )
    x, axis, _ = _axis_info(node, dim)
    return _check_topk_layer(x, axis, k)


def _sort_args(target: Any, args: Any, kwargs: Any) -> tuple[int, bool, bool]:
    """``(dim, descending, stable)``: ``sort.stable`` takes keywords only, ``sort.default`` positions."""
    if target == torch.ops.aten.sort.stable:
        return kwargs.get("dim", -1), bool(kwargs.get("descending", False)), bool(kwargs.get("stable"))
    args = list(args) + [None, None]
    dim = args[1] if args[1] is not None else kwargs.get("dim", -1)
    descending = args[2] if args[2] is not None else kwargs.get("descending", False)
    return dim, bool(descending), False


def _validate_sort(node: Any, settings: Any) -> Any:
    dim, _, stable = _sort_args(node.target, node.args, node.kwargs)
    x, axis, n = _axis_info(node, dim)
    if n is None:
        return trtforge.Refusal("the sorted axis has no upper bound (a data-dependent size)")
    if stable:
        if x.dtype not in _TOPK_DTYPES:
            return trtforge.Refusal(f"sort of {x.dtype} values")
        if n > STABLE_SORT_MAX:
            return trtforge.Refusal(
                f"stable sort of up to {n} elements: the exact tie order needs N*N comparisons "
                f"(limit {STABLE_SORT_MAX})"
            )
        return True
    return _check_topk_layer(x, axis, n)


# -- converters -------------------------------------------------------------------
def _topk_layer(ctx: Any, x: Any, k: Any, axis: int, largest: bool) -> tuple[Any, Any]:
    """TopK along ``axis`` (a 1-D input is viewed as ``[1, N]``); indices as int64."""
    o = Ops(ctx)
    flat = len(x.shape) == 1
    x2 = o.unsqueeze(x, 0) if flat else x
    axis = axis + 1 if flat else axis
    op = ctx.trt.TopKOperation.MAX if largest else ctx.trt.TopKOperation.MIN
    layer = ctx.net.add_topk(x2, op, k if isinstance(k, int) else 1, 1 << axis)
    if not isinstance(k, int):
        layer.set_input(1, k)
    ctx.name(layer, "topk")
    values, indices = layer.get_output(0), o.cast(layer.get_output(1), torch.int64)
    if flat:
        values, indices = (blocks.squeeze(ctx, t, [0]) for t in (values, indices))
    return values, indices


@trtforge.converter(torch.ops.aten.topk.default, supports_dynamic_shapes=True, capability_validator=_validate_topk)
def convert_topk(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> Any:
    """``(values, int64 indices)``, largest (or smallest) first."""
    args = list(args) + [None] * 5
    x, k = ctx.to_trt(args[0]), int(args[1])
    dim = args[2] if args[2] is not None else kwargs.get("dim", -1)
    largest = args[3] if args[3] is not None else kwargs.get("largest", True)
    axis = blocks.normalize_dim(dim, max(len(x.shape), 1))
    return _topk_layer(ctx, x, k, axis, bool(largest))


@trtforge.converter(torch.ops.aten.sort.default, supports_dynamic_shapes=True, capability_validator=_validate_sort)
@trtforge.converter(torch.ops.aten.sort.stable, supports_dynamic_shapes=True, capability_validator=_validate_sort)
def convert_sort(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> Any:
    """``(values, int64 indices)``: a full-length TopK, or a stable rank + scatter when ``stable=True``."""
    o = Ops(ctx)
    x = ctx.to_trt(args[0])
    dim, descending, stable = _sort_args(target, args, kwargs)
    axis = blocks.normalize_dim(dim, max(len(x.shape), 1))
    n_max = dim_upper_bound(arg_val(ctx.current_node, 0).shape[axis])
    if not stable:
        k = x.shape[axis] if x.shape[axis] >= 0 else blocks.reshape(
            ctx, o.cast(blocks.dim_size(ctx, x, axis), torch.int32), [])
        return _topk_layer(ctx, x, k, axis, descending)
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
