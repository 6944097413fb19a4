"""torch.unique and torch.unique_consecutive: sort, mark group starts, compact with NonZero.

``unique`` (``aten._unique2``): TopK sorts the flattened input; a position
starts a group where the sorted value differs from its predecessor; the
prefix sum of those starts is each sorted element's group id, scattered back
through the sort permutation as ``inverse``; NonZero over the starts gives one
representative per group (``values``) and the group sizes (``counts``).

``unique(dim=k)`` (``aten.unique_dim``) needs rows in lexicographic order.
Each column is dense-ranked (one TopK over all columns at once), then adjacent
columns are paired into the key ``rank_a * n + rank_b`` and re-ranked, halving
the columns each round: ceil(log2(columns)) + 1 sorts in all. The final ranks
are exactly the inverse indices, whatever order TopK gives to ties.
"""
from __future__ import annotations

from typing import Any

import torch
import trtforge
from trtforge.conversion import blocks
from trtforge.conversion.args import argument, node_argument, value_of
from trtforge.conversion.bounds import numel_bounds, shape_bounds

from . import _checks, _layers

aten = torch.ops.aten


def _rows_view(ctx, x: Any, dim: int) -> tuple[Any, Any, list[int]]:
    """``x`` with ``dim`` moved first (``[n, *rest]``), its ``[n, m]`` flattening, and the permutation."""
    order = [dim] + [d for d in range(len(x.shape)) if d != dim]
    xt = blocks.permute(ctx, x, order)
    m = 1
    for d in xt.shape[1:]:
        m *= d
    return xt, blocks.reshape(ctx, xt, [blocks.size(ctx, xt, 0), m]), order


def _move_back(ctx, rows: Any, order: list[int]) -> Any:
    """Undo :func:`_rows_view`'s move of the unique dimension to the front."""
    if order[0] == 0:
        return rows
    return blocks.permute(ctx, rows, [order.index(d) for d in range(len(order))])


def _groups(ctx, starts: Any, n: Any) -> tuple[Any, Any]:
    """``(first sorted position of each group [U], group sizes [U])`` from a ``[1, n]`` start mask."""
    first = _layers.nonzero_1d(ctx, blocks.flatten(ctx, starts))
    return first, _layers.counts_from_starts(ctx, first, n)


# -- unique(dim=None) -------------------------------------------------------------------------
def _unique_ok(node: torch.fx.Node, settings: Any) -> bool:
    source = node_argument(node, "self")
    x = value_of(source)
    bad = _checks.check_dtype(x)  # a Refusal is falsy: no `or` chaining
    if bad is None:
        bad = _checks.check_sort_size(node, x.shape, numel_bounds(source), "the input")
    return bad if bad is not None else True


@trtforge.converter(
    aten._unique2.default, supports_dynamic_shapes=True, requires_output_allocator=True,
    capability_validator=_unique_ok, emits={"NON_ZERO"},
)
def unique(ctx, target, args, kwargs, name):
    """Sorted unique values (``sorted=False`` gives the same order, as torch does), inverse, counts."""
    x, back = _layers.widen(ctx, args[0])
    flat = blocks.flatten(ctx, x)
    n = _layers.numel(ctx, x)
    keys = blocks.reshape(ctx, _layers.sortable(ctx, flat), [1, -1])
    rank, perm, starts = _layers.dense_rank(ctx, keys, n)
    first, counts = _groups(ctx, starts, n)
    values = _layers.gather(ctx, flat, _layers.gather(ctx, blocks.flatten(ctx, perm), first, 0), 0)
    values = _layers.restore(ctx, values, back)
    want_inverse = argument(target, args, kwargs, "return_inverse")
    want_counts = argument(target, args, kwargs, "return_counts")
    inverse = blocks.reshape(ctx, rank, blocks.sizes(ctx, x)) if want_inverse else _layers.empty_i64(ctx)
    return values, inverse, counts if want_counts else _layers.empty_i64(ctx)


# -- unique(dim=k) ------------------------------------------------------------------------------
def _static_rows(x: torch.Tensor, dim: Any) -> int | trtforge.Refusal:
    """The (static) length of one slice along ``dim``, or why not."""
    if not isinstance(dim, int) or x.dim() == 0:
        return trtforge.Refusal("needs an int dim and an input of rank >= 1")
    dim %= x.dim()
    rest = [d for i, d in enumerate(x.shape) if i != dim]
    if not all(isinstance(d, int) for d in rest):
        return trtforge.Refusal("dimensions other than `dim` must be static (they are unrolled into columns)")
    m = 1
    for d in rest:
        m *= d
    return m if m > 0 else trtforge.Refusal("slices along `dim` are empty")


def _unique_dim_ok(node: torch.fx.Node, settings: Any) -> bool:
    source, dim = node_argument(node, "self"), node_argument(node, "dim")
    x = value_of(source)
    bad = _checks.check_dtype(x)
    if bad is not None:
        return bad
    m = _static_rows(x, dim)
    if isinstance(m, trtforge.Refusal):
        return m
    dim %= x.dim()
    bad = _checks.check_sort_size(node, [x.shape[dim]], shape_bounds(source)[dim], f"dimension {dim}",
                                 "slices")
    return bad if bad is not None else True


def _lexicographic_rank(ctx, cols: Any, n: Any) -> tuple[Any, Any, Any]:
    """Dense rank of the columns of ``cols`` (``[m, n]``) in lexicographic order of their entries."""
    rank, perm, starts = _layers.dense_rank(ctx, cols, n)
    while rank.shape[0] > 1:
        rows = rank.shape[0]
        if rows % 2:  # pair the last row with zeros: rank * n + 0 keeps its order
            zero = _layers.ew(ctx, "PROD", _layers.gather(ctx, rank, _layers.i64(ctx, [0]), 0), _layers.i64(ctx, [0]))
            rank = ctx.out(ctx.net.add_concatenation([rank, zero]), "pad_row")
            rows += 1
        hi = _layers.gather(ctx, rank, _layers.i64(ctx, list(range(0, rows, 2))), 0)
        lo = _layers.gather(ctx, rank, _layers.i64(ctx, list(range(1, rows, 2))), 0)
        keys = _layers.ew(ctx, "SUM", _layers.ew(ctx, "PROD", hi, n), lo)
        rank, perm, starts = _layers.dense_rank(ctx, keys, n)
    return rank, perm, starts


@trtforge.converter(
    aten.unique_dim.default, supports_dynamic_shapes=True, requires_output_allocator=True,
    capability_validator=_unique_dim_ok, emits={"NON_ZERO"},
)
def unique_dim(ctx, target, args, kwargs, name):
    """Unique slices along ``dim`` in lexicographic order; inverse and counts (always computed, as torch)."""
    x, back = _layers.widen(ctx, args[0])
    dim = blocks.normalize_dim(argument(target, args, kwargs, "dim"), len(x.shape))
    xt, rows, order = _rows_view(ctx, x, dim)
    n = blocks.dim_size(ctx, x, dim)
    cols = blocks.permute(ctx, _layers.sortable(ctx, rows), (1, 0))
    rank, perm, starts = _lexicographic_rank(ctx, cols, n)
    first, counts = _groups(ctx, starts, n)
    reps = _layers.gather(ctx, blocks.flatten(ctx, perm), first, 0)
    values = _layers.restore(ctx, _move_back(ctx, _layers.gather(ctx, xt, reps, 0), order), back)
    return values, blocks.flatten(ctx, rank), counts


# -- unique_consecutive --------------------------------------------------------------------------
def _unique_consecutive_ok(node: torch.fx.Node, settings: Any) -> bool:
    x, dim = value_of(node_argument(node, "self")), node_argument(node, "dim")
    bad = _checks.check_dtype(x)
    if bad is not None:
        return bad
    if dim is not None:
        m = _static_rows(x, dim)
        if isinstance(m, trtforge.Refusal):
            return m
    return True


@trtforge.converter(
    aten.unique_consecutive.default, supports_dynamic_shapes=True, requires_output_allocator=True,
    capability_validator=_unique_consecutive_ok, emits={"NON_ZERO"},
)
def unique_consecutive(ctx, target, args, kwargs, name):
    """Collapse runs of equal elements (or slices along ``dim``): no sort, so no size limit."""
    x, back = _layers.widen(ctx, args[0])
    dim = argument(target, args, kwargs, "dim")
    if dim is None:
        src = blocks.flatten(ctx, x)
        n = _layers.numel(ctx, x)
        starts = _layers.group_starts(ctx, blocks.reshape(ctx, _layers.sortable(ctx, src), [1, -1]), n)
        order = None
    else:
        dim = blocks.normalize_dim(dim, len(x.shape))
        src, rows, order = _rows_view(ctx, x, dim)
        n = blocks.dim_size(ctx, x, dim)
        cols = blocks.permute(ctx, _layers.sortable(ctx, rows), (1, 0))
        per_col = blocks.cast(ctx, _layers.group_starts(ctx, cols, n), torch.int32)
        any_col = ctx.out(ctx.net.add_reduce(per_col, ctx.trt.ReduceOperation.MAX, 1, True), "any")
        starts = _layers.ne_zero(ctx, any_col)
    first, counts = _groups(ctx, starts, n)
    values = _layers.gather(ctx, src, first, 0)
    inverse = _layers.ew(ctx, "SUB", _layers.cumsum_last(ctx, starts), _layers.i64(ctx, [1]))
    if order is not None:
        values = _layers.restore(ctx, _move_back(ctx, values, order), back)
        return values, blocks.flatten(ctx, inverse), counts
    values = _layers.restore(ctx, values, back)
    want_inverse = argument(target, args, kwargs, "return_inverse")
    want_counts = argument(target, args, kwargs, "return_counts")
    inverse = blocks.reshape(ctx, inverse, blocks.sizes(ctx, x)) if want_inverse else _layers.empty_i64(ctx)
    return values, inverse, counts if want_counts else _layers.empty_i64(ctx)

