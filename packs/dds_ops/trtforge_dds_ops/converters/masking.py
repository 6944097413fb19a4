"""Boolean-mask selection and assignment: masked_select, ``x[mask]``, ``x[mask] = v``.

Selection is NonZero on the flattened mask followed by a gather, so elements
come out in row-major order and values are copied bit for bit.
"""
from __future__ import annotations

from typing import Any

import torch
import trtforge
from trtforge.conversion import blocks
from trtforge.conversion.args import argument, node_argument, value_of

from . import _checks, _layers

aten = torch.ops.aten


# -- masked_select ---------------------------------------------------------------------
def _masked_select_ok(node: torch.fx.Node, settings: Any) -> bool:
    for what, name in (("input", "self"), ("mask", "mask")):
        bad = _checks.check_dtype(value_of(node_argument(node, name)), what)
        if bad is not None:
            return bad
    return True


def _broadcast_shape(ctx, a: Any, b: Any) -> list[Any]:
    """torch's broadcast shape of two equal-rank tensors (ints, or ``[1]`` tensors where dynamic)."""
    if all(d >= 0 for d in (*a.shape, *b.shape)):
        return list(torch.broadcast_shapes(tuple(a.shape), tuple(b.shape)))
    sa, sb = blocks.shape_of(ctx, a), blocks.shape_of(ctx, b)
    big = _layers.ew(ctx, "MAX", sa, sb)
    # a 0-size dim broadcast against 1 stays 0: multiply by min(min(a, b), 1)
    zero_or_one = _layers.ew(ctx, "MIN", _layers.ew(ctx, "MIN", sa, sb), _layers.i64(ctx, [1] * len(a.shape)))
    shape = _layers.ew(ctx, "PROD", big, zero_or_one)
    return [blocks.gather_1d(ctx, shape, [i]) for i in range(len(a.shape))]


@trtforge.converter(
    aten.masked_select.default, supports_dynamic_shapes=True, requires_output_allocator=True,
    capability_validator=_masked_select_ok, emits={"NON_ZERO"},
)
def masked_select(ctx, target, args, kwargs, name):
    """``x`` and ``mask`` broadcast together, flattened, then the true positions gathered."""
    x, back = _layers.widen(ctx, args[0])
    x, mask = blocks.same_rank(ctx, x, argument(target, args, kwargs, "mask"))
    if tuple(x.shape) != tuple(mask.shape) or any(d < 0 for d in x.shape):
        node = ctx.current_node
        xm, mm = value_of(node_argument(node, "self")), value_of(node_argument(node, "mask"))
        if tuple(xm.shape) != tuple(mm.shape):  # symbolic shapes differ: broadcast for real
            shape = _broadcast_shape(ctx, x, mask)
            x, mask = blocks.expand(ctx, x, shape), blocks.expand(ctx, mask, shape)
    idx = _layers.nonzero_1d(ctx, blocks.flatten(ctx, mask))
    return _layers.restore(ctx, _layers.gather(ctx, blocks.flatten(ctx, x), idx, 0), back)


def _mask_arg(ctx, target: Any, args: Any, kwargs: Any) -> tuple[int, int, Any]:
    """``(p, k, mask)``: the rank-k boolean mask of an index list, standing at dim p."""
    node = ctx.current_node
    p, k = _checks.mask_position(value_of(node_argument(node, "self")), node_argument(node, "indices"))
    return p, k, ctx.to_trt(argument(target, args, kwargs, "indices")[p])


# -- x[mask] ------------------------------------------------------------------------------
def _index_ok(node: torch.fx.Node, settings: Any) -> bool:
    x = value_of(node_argument(node, "self"))
    bad = _checks.check_dtype(x)
    if bad is not None:
        return bad
    where = _checks.mask_position(x, node_argument(node, "indices"))
    return where if isinstance(where, trtforge.Refusal) else True


@trtforge.converter(
    aten.index.Tensor, supports_dynamic_shapes=True, requires_output_allocator=True,
    capability_validator=_index_ok, emits={"NON_ZERO"}, priority=1,
)
def index_bool(ctx, target, args, kwargs, name):
    """``x[:, ..., mask]``: the mask's dims merged into one, then its true positions gathered.

    Priority 1 with a validator that accepts boolean masks only, so integer
    indexing goes on to whichever pack converts gathers.
    """
    x, back = _layers.widen(ctx, args[0])
    p, k, mask = _mask_arg(ctx, target, args, kwargs)
    idx = _layers.nonzero_1d(ctx, blocks.flatten(ctx, mask))
    return _layers.restore(ctx, _layers.gather(ctx, blocks.flatten(ctx, x, p, p + k - 1), idx, p), back)


# -- x[mask] = v ---------------------------------------------------------------------------
def _index_put_where(node: torch.fx.Node) -> tuple[int, int] | trtforge.Refusal:
    x, v = value_of(node_argument(node, "self")), value_of(node_argument(node, "values"))
    for what, t in (("input", x), ("values", v)):
        bad = _checks.check_dtype(t, what)
        if bad is not None:
            return bad
    where = _checks.mask_position(x, node_argument(node, "indices"))
    if not isinstance(where, trtforge.Refusal) and v.dim() > x.dim() - where[1] + 1:
        return trtforge.Refusal("values have more dims than the indexed result (leading size-1 dims)")
    return where


def _values_per_element(node: torch.fx.Node, p: int, k: int) -> bool:
    """Whether ``values`` vary along the selected elements (their dim aligned with N is not 1)."""
    x, v = value_of(node_argument(node, "self")), value_of(node_argument(node, "values"))
    out_rank = x.dim() - k + 1
    at = p - (out_rank - v.dim())
    return at >= 0 and not (isinstance(v.shape[at], int) and v.shape[at] == 1)


def _index_put_select_ok(node: torch.fx.Node, settings: Any) -> bool:
    where = _index_put_where(node)
    if isinstance(where, trtforge.Refusal):
        return where
    if _values_per_element(node, *where):
        return trtforge.Refusal("values differ per selected element: needs NonZero + scatter")
    return True


def _index_put_scatter_ok(node: torch.fx.Node, settings: Any) -> bool:
    where = _index_put_where(node)
    if isinstance(where, trtforge.Refusal):
        return where
    if not _values_per_element(node, *where):
        return trtforge.Refusal("one value for all selected elements: a select does it, without NonZero")
    return True


def _accumulate(target: Any, args: Any, kwargs: Any) -> bool:
    return bool(argument(target, args, kwargs, "accumulate"))


def _add(ctx, a: Any, b: Any) -> Any:
    """``a + b`` as torch computes it for index_put's accumulate (logical or for bools)."""
    return _layers.ew(ctx, "OR" if ctx.torch_dtype(a) == torch.bool else "SUM", a, b)


@trtforge.converter(
    aten.index_put.default, supports_dynamic_shapes=True, capability_validator=_index_put_select_ok,
    priority=1,
)
def index_put_broadcast(ctx, target, args, kwargs, name):
    """``x[mask] = v`` with one value for every selected element: a select, no NonZero.

    The output has x's shape, so nothing here depends on data: no output
    allocator, and it builds on every backend.
    """
    (x, back), (v, _) = _layers.widen(ctx, args[0]), _layers.widen(ctx, argument(target, args, kwargs, "values"))
    p, k, mask = _mask_arg(ctx, target, args, kwargs)
    rank = len(x.shape)
    mask = blocks.reshape(ctx, mask, [1] * p + blocks.sizes(ctx, mask) + [1] * (rank - p - k))
    # v broadcasts against [*pre, N, *rest]: align it there, then give N's slot the mask's k dims
    v = blocks.to_rank(ctx, v, rank - k + 1)
    vdims = blocks.sizes(ctx, v)
    v = blocks.reshape(ctx, v, vdims[:p] + [1] * k + vdims[p + 1:])
    v = blocks.cast(ctx, v, ctx.torch_dtype(x))
    if _accumulate(target, args, kwargs):
        v = _add(ctx, x, v)
    layer = ctx.net.add_select(mask, *blocks.same_rank(ctx, v, x))
    return _layers.restore(ctx, ctx.out(layer, "select"), back)


@trtforge.converter(
    aten.index_put.default, supports_dynamic_shapes=True, requires_output_allocator=True,
    capability_validator=_index_put_scatter_ok, emits={"NON_ZERO"}, priority=2,
)
def index_put_scatter(ctx, target, args, kwargs, name):
    """``x[mask] = v`` with per-element values: NonZero positions, then a ScatterND of rows.

    The mask's dims are merged and moved to the front so the scatter writes whole
    rows; ``accumulate=True`` adds the gathered old values first (positions are
    distinct, so each element gets exactly one addition, as in torch).
    """
    (x, back), (v, _) = _layers.widen(ctx, args[0]), _layers.widen(ctx, argument(target, args, kwargs, "values"))
    p, k, mask = _mask_arg(ctx, target, args, kwargs)
    xm = blocks.flatten(ctx, x, p, p + k - 1)
    rank = len(xm.shape)
    order = [p] + [d for d in range(rank) if d != p]
    undo = [order.index(d) for d in range(rank)]
    rows = _layers.nonzero_1d(ctx, blocks.flatten(ctx, mask))
    xt = blocks.permute(ctx, xm, order)
    target_shape = blocks.sizes(ctx, xm)
    target_shape[p] = blocks.shape_of(ctx, rows)
    v = blocks.to_rank(ctx, v, rank)
    vt = blocks.permute(ctx, blocks.expand(ctx, blocks.cast(ctx, v, ctx.torch_dtype(x)), target_shape), order)
    if _accumulate(target, args, kwargs):
        vt = _add(ctx, _layers.gather(ctx, xt, rows, 0), vt)
    out = blocks.permute(ctx, _layers.scatter_rows(ctx, xt, rows, vt), undo)
    out = blocks.reshape(ctx, out, blocks.sizes(ctx, x)) if k > 1 else out
    return _layers.restore(ctx, out, back)

