"""Layer recipes shared by this pack's converters: index tensors, compaction, sorting, scatter.

Everything here works with dynamic and data-dependent sizes: sizes travel as
1-element int64 shape tensors (``[n]``), never as Python ints, unless the
dimension is static. Index tensors are int64 throughout, as in PyTorch.

TensorRT type gaps: NonZero is fed bool (:func:`ne_zero`), TopK and EQUAL get
int32 in place of bool/int8/uint8 (:func:`sortable`), Scatter gets int32 in
place of bool (:func:`scatter_rows`). uint8 tensors cannot even be reshaped or
gathered in TensorRT, so converters :func:`widen` them to int32 on entry and
:func:`restore` the dtype on exit. Every one of these casts is exact.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from trtforge.conversion import blocks
from trtforge.conversion.bounds import layer_limits
from trtforge.conversion.context import ConversionContext

_SORTABLE = (torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64)
_SCATTERABLE = (torch.int8, torch.int32, torch.int64, torch.float32, torch.float16, torch.bfloat16)


# -- constants and sizes -----------------------------------------------------------
def i64(ctx: ConversionContext, values: int | Sequence[int]) -> Any:
    """An int64 constant: 0-d for an int, 1-D for a sequence."""
    return ctx.constant(torch.tensor(values, dtype=torch.int64))


def ew(ctx: ConversionContext, op: str, a: Any, b: Any) -> Any:
    """Elementwise ``op`` (an ``ElementWiseOperation`` name) with torch promotion and broadcasting."""
    return blocks.elementwise(ctx, getattr(ctx.trt.ElementWiseOperation, op), a, b)


def numel(ctx: ConversionContext, x: Any) -> Any:
    """Number of elements of ``x`` as a ``[1]`` int64 tensor (a constant when static)."""
    return blocks.as_size_tensor(ctx, blocks.numel_of(ctx, x, range(len(x.shape))))


# -- predicates ----------------------------------------------------------------------
def ne_zero(ctx: ConversionContext, x: Any) -> Any:
    """``x != 0`` as bool (NaN counts as non-zero, -0.0 as zero, as in torch)."""
    dtype = ctx.torch_dtype(x)
    if dtype == torch.bool:
        return x
    if dtype in (torch.uint8, torch.int8):
        x = blocks.cast(ctx, x, torch.int32)
    return not_(ctx, ew(ctx, "EQUAL", x, 0))


def not_(ctx: ConversionContext, x: Any) -> Any:
    return blocks.unary(ctx, ctx.trt.UnaryOperation.NOT, x)


def sortable(ctx: ConversionContext, x: Any) -> Any:
    """``x`` in a dtype TopK and EQUAL accept (bool/int8/uint8 -> int32, exact)."""
    return x if ctx.torch_dtype(x) in _SORTABLE else blocks.cast(ctx, x, torch.int32)


# -- compaction -------------------------------------------------------------------------
def nonzero(ctx: ConversionContext, x: Any) -> Any:
    """``[rank, N]`` int64 coordinates of the non-zero elements, row-major (INonZeroLayer)."""
    layer = ctx.net.add_non_zero(ne_zero(ctx, x), ctx.trt.DataType.INT64)
    return ctx.out(layer, "nonzero")


def nonzero_1d(ctx: ConversionContext, mask: Any) -> Any:
    """``[N]`` int64 positions of the true elements of a 1-D mask."""
    return blocks.reshape(ctx, nonzero(ctx, mask), [-1])


# -- data movement with dtype fixes ---------------------------------------------------------
def widen(ctx: ConversionContext, x: Any) -> tuple[Any, torch.dtype | None]:
    """uint8 as int32 (TensorRT can only cast uint8: no shuffle, gather...), and the dtype to restore."""
    x = ctx.to_trt(x)
    return (blocks.cast(ctx, x, torch.int32), torch.uint8) if ctx.torch_dtype(x) == torch.uint8 else (x, None)


def restore(ctx: ConversionContext, x: Any, dtype: torch.dtype | None) -> Any:
    return blocks.cast(ctx, x, dtype) if dtype is not None else x


def gather(ctx: ConversionContext, data: Any, indices: Any, axis: int) -> Any:
    """``index_select`` semantics: gather along ``axis`` (data of any dtype but uint8: see :func:`widen`)."""
    return ctx.out(ctx.net.add_gather(data, indices, axis), "gather")


def scatter_rows(ctx: ConversionContext, data: Any, rows: Any, updates: Any) -> Any:
    """``data[rows] = updates`` along axis 0 (``rows``: ``[N]`` distinct int64 positions)."""
    back = ctx.torch_dtype(data) if ctx.torch_dtype(data) not in _SCATTERABLE else None
    data = blocks.cast(ctx, data, torch.int32) if back else data
    updates = blocks.cast(ctx, updates, ctx.torch_dtype(data))
    index = blocks.reshape(ctx, rows, [-1, 1])
    layer = ctx.net.add_scatter(data, index, updates, ctx.trt.ScatterMode.ND)
    out = ctx.out(layer, "scatter_nd")
    return blocks.cast(ctx, out, back) if back else out


def scatter_last(ctx: ConversionContext, data: Any, indices: Any, updates: Any) -> Any:
    """ScatterElements along the last axis: ``out[..., indices[..., j]] = updates[..., j]``."""
    layer = ctx.net.add_scatter(data, indices, updates, ctx.trt.ScatterMode.ELEMENT)
    layer.axis = len(data.shape) - 1
    return ctx.out(layer, "scatter_elements")


# -- sorting and grouping ---------------------------------------------------------------------
def sort_last(ctx: ConversionContext, x: Any, n: Any) -> tuple[Any, Any]:
    """Ascending sort along the last axis: ``(values, int64 permutation)``.

    TopK with K = n (``[1]`` tensor, or int when static); K must stay within the backend's
    ``topk_max_k``, which the converters' capability validators check against the profile's
    max. An input of fewer dimensions than TopK accepts (the backend's ``min_input_rank``)
    gets leading size-1 dimensions, removed again from the results.
    """
    rank = len(x.shape)
    lifted = layer_limits(ctx.current_node).input_rank("TOPK", rank)
    x = blocks.to_rank(ctx, x, lifted)
    axis_mask = 1 << (lifted - 1)
    static = x.shape[-1] >= 0
    layer = ctx.net.add_topk(x, ctx.trt.TopKOperation.MIN, x.shape[-1] if static else 1, axis_mask,
                             ctx.trt.DataType.INT64)
    if not static:
        layer.set_input(1, blocks.reshape(ctx, n, []))
    ctx.name(layer, "sort")
    values, perm = layer.get_output(0), layer.get_output(1)
    if lifted > rank:
        values, perm = (blocks.squeeze(ctx, t, range(lifted - rank)) for t in (values, perm))
    return values, perm


def group_starts(ctx: ConversionContext, s: Any, n: Any) -> Any:
    """Bool mask over the last axis: True where ``s`` differs from its predecessor, and at 0.

    ``s`` has rank 2 (``[rows, n]``); NaN differs from everything, as in torch.
    """
    pos = blocks.arange(ctx, n)
    prev_idx = ew(ctx, "MAX", ew(ctx, "SUB", pos, i64(ctx, [1])), i64(ctx, [0]))
    prev = gather(ctx, s, prev_idx, 1)
    differs = not_(ctx, ew(ctx, "EQUAL", s, prev))
    first = blocks.reshape(ctx, ew(ctx, "EQUAL", pos, i64(ctx, [0])), [1, -1])
    return ew(ctx, "OR", differs, first)


def cumsum_last(ctx: ConversionContext, flags: Any) -> Any:
    """Inclusive int64 prefix sum of a bool tensor along its last axis."""
    x = blocks.cast(ctx, flags, torch.int64)
    axis = ctx.constant(torch.tensor(len(flags.shape) - 1, dtype=torch.int32))
    layer = ctx.net.add_cumulative(x, axis, ctx.trt.CumulativeOperation.SUM, False, False)
    return ctx.out(layer, "cumsum")


def dense_rank(ctx: ConversionContext, keys: Any, n: Any) -> tuple[Any, Any, Any]:
    """Rank of each key among the distinct keys of its row (``[rows, n]`` -> int64 ``[rows, n]``).

    Returns ``(rank, perm, starts)``: the ranks in input order, the sorting
    permutation and the group-start mask in sorted order. Ties may sort in any
    order: the ranks do not depend on it.
    """
    s, perm = sort_last(ctx, keys, n)
    starts = group_starts(ctx, s, n)
    group = ew(ctx, "SUB", cumsum_last(ctx, starts), i64(ctx, [1]))
    zeros = ew(ctx, "PROD", perm, i64(ctx, [0]))
    rank = scatter_last(ctx, zeros, perm, group)
    return rank, perm, starts


def counts_from_starts(ctx: ConversionContext, starts: Any, n: Any) -> Any:
    """Group sizes from ``[U]`` sorted group-start positions in a sequence of length ``n``."""
    ends = ctx.out(ctx.net.add_concatenation([starts, n]), "ends")
    nxt = gather(ctx, ends, ew(ctx, "SUM", blocks.arange(ctx, blocks.shape_of(ctx, starts)), i64(ctx, [1])), 0)
    return ew(ctx, "SUB", nxt, starts)


def empty_i64(ctx: ConversionContext) -> Any:
    """A ``[0]`` int64 tensor: what ``torch.unique`` returns for outputs not asked for."""
    return ctx.constant(torch.zeros(0, dtype=torch.int64))
