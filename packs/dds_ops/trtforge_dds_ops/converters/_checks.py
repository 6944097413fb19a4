"""What the capability validators check: shapes, dtypes and bounds read from fx node metadata."""
from __future__ import annotations

from typing import Any, Sequence

import torch

from trtforge import Refusal

from ._layers import MAX_TOPK_K

#: torch dtypes TensorRT tensors can hold
TRT_DTYPES = (torch.bool, torch.uint8, torch.int8, torch.int32, torch.int64,
              torch.float16, torch.bfloat16, torch.float32)


def val(arg: Any) -> Any:
    """The FakeTensor (or Python value) an fx argument stands for."""
    return arg.meta.get("val") if isinstance(arg, torch.fx.Node) else arg


def arg(node: torch.fx.Node, index: int, name: str, default: Any = None) -> Any:
    """Positional-or-keyword argument ``name`` of ``node``."""
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def upper_bound(dim: Any) -> int | None:
    """Largest value a static, dynamic or data-dependent dimension can take (None: unbounded)."""
    if isinstance(dim, int):
        return dim
    try:
        hi = dim.node.shape_env.bound_sympy(dim.node.expr).upper
        return int(hi) if hi.is_finite else None
    except (AttributeError, TypeError, ValueError):
        return None


def numel_bound(shape: Sequence[Any]) -> int | None:
    total = 1
    for d in shape:
        b = upper_bound(d)
        if b is None:
            return None
        total *= b
    return total


def check_dtype(t: Any, what: str = "input") -> Refusal | None:
    if not isinstance(t, torch.Tensor):
        return Refusal(f"{what} is not a tensor")
    if t.dtype not in TRT_DTYPES:
        return Refusal(f"{what} dtype {t.dtype} has no TensorRT equivalent")
    return None


def check_sort_size(count: Any, what: str) -> Refusal | None:
    """Refuse sorts TensorRT's TopK cannot do in one layer (more than MAX_TOPK_K elements)."""
    bound = count if isinstance(count, int) else None
    if bound is None:
        return Refusal(f"{what} has no upper bound; the sort (TensorRT TopK) needs one <= {MAX_TOPK_K}")
    if bound > MAX_TOPK_K:
        return Refusal(
            f"{what} can reach {bound} elements; the sort uses TensorRT TopK, which handles at most "
            f"{MAX_TOPK_K} (K limit)"
        )
    return None


def mask_position(x: torch.Tensor, indices: Sequence[Any]) -> tuple[int, int] | Refusal:
    """``(p, k)`` for ``x[(None,) * p + (mask,)]`` with a rank-k bool mask; else a Refusal.

    ``indices`` are the fx arguments of ``aten.index.Tensor`` / ``aten.index_put``;
    trailing ``None`` entries are allowed (they index nothing).
    """
    given = [(i, val(t)) for i, t in enumerate(indices) if t is not None]
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
