"""What the capability validators check: dtypes, boolean-mask positions and the sort's size limit.

Arguments, values and size bounds are read with the core's toolkit
(:mod:`trtforge.conversion.args`, :mod:`trtforge.conversion.bounds`); the TopK limit is the
target backend's (:func:`~trtforge.conversion.bounds.layer_limits`), never a copy kept here.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from trtforge import Refusal
from trtforge.conversion.args import value_of
from trtforge.conversion.bounds import Bounds, layer_limits
from trtforge.conversion.refusals import fit_hint

#: torch dtypes TensorRT tensors can hold
TRT_DTYPES = (torch.bool, torch.uint8, torch.int8, torch.int32, torch.int64,
              torch.float16, torch.bfloat16, torch.float32)


def check_dtype(t: Any, what: str = "input") -> Refusal | None:
    if not isinstance(t, torch.Tensor):
        return Refusal(f"{what} is not a tensor")
    if t.dtype not in TRT_DTYPES:
        return Refusal(f"{what} dtype {t.dtype} has no TensorRT equivalent")
    return None


def check_sort_size(node: torch.fx.Node, dims: Sequence[Any], size: Bounds, what: str,
                    unit: str = "elements") -> Refusal | None:
    """Refuse a sort TensorRT's TopK cannot do in one layer: more than the backend's K limit.

    ``dims`` are the sizes (ints or SymInts) whose product is sorted and ``size`` their
    :class:`~trtforge.conversion.bounds.Bounds`: the refusal goes by the **max** the compile
    allows (the optimization profile's, or torch's bound of a data-dependent size), and says
    how to get under the limit.
    """
    limits = layer_limits(node)
    limit = limits.topk_max_k
    sorts = (f"the sort uses TensorRT TopK, which handles at most {limit} (K limit: topk_max_k of the target "
             "backend's layer limits)")
    if size.max is None:
        return Refusal(f"{what} has no upper bound (a data-dependent size); {sorts}: {fit_hint(node, dims, limit)}")
    if size.max > limit:
        reach = f"{what} {'has' if size.min == size.max else 'can reach'} {size.max} {unit}"
        fix = fit_hint(node, dims, limit)
        return Refusal(f"{reach}; {sorts}" + (f": {fix}" if fix else ""))
    return None


def mask_position(x: torch.Tensor, indices: Sequence[Any]) -> tuple[int, int] | Refusal:
    """``(p, k)`` for ``x[(None,) * p + (mask,)]`` with a rank-k bool mask; else a Refusal.

    ``indices`` are the fx arguments of ``aten.index.Tensor`` / ``aten.index_put``;
    trailing ``None`` entries are allowed (they index nothing).
    """
    given = [(i, value_of(t)) for i, t in enumerate(indices) if t is not None]
    if len(given) != 1:
        return Refusal(f"{len(given)} index tensors; this pack converts a single boolean mask")
    p, mask = given[0]
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        dtype = getattr(mask, "dtype", type(mask).__name__)
        return Refusal(f"index tensor has dtype {dtype}: not a boolean mask (integer indexing is a gather)")
    k = mask.dim()
    if k == 0:
        return Refusal("0-d boolean index (x[True]) adds a dimension; not converted")
    if p + k > x.dim():
        return Refusal(f"mask of rank {k} at dim {p} exceeds the rank {x.dim()} of the indexed tensor")
    return p, k
