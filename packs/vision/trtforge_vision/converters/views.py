"""Strided views: diagonal, and as_strided where its memory walk is static.

TensorRT has no strides: a view that is not a slice or a reshape of the input's
elements is read with a gather whose indices torch computes at build time.
"""
from __future__ import annotations

import math

import torch

from trtforge import Refusal
from trtforge.conversion import blocks as B
from trtforge.conversion.args import argument, node_argument, value_of

from ._util import converter, static_dims

aten = torch.ops.aten


def _diag_geometry(n1: int, n2: int, offset: int) -> tuple[int, int]:
    """(start in the flattened ``n1 x n2`` plane, length) of the ``offset`` diagonal."""
    if offset >= 0:
        return offset, max(0, min(n1, n2 - offset))
    return -offset * n2, max(0, min(n1 + offset, n2))


def _diagonal_ok(node, settings):
    rank = len(value_of(node.args[0]).shape)
    d1, d2 = node_argument(node, "dim1") % rank, node_argument(node, "dim2") % rank
    if not static_dims(node.args[0], [d1, d2]):
        return Refusal("diagonal over a dynamic dimension")
    shape = value_of(node.args[0]).shape
    if _diag_geometry(shape[d1], shape[d2], node_argument(node, "offset"))[1] == 0:
        return Refusal("empty diagonal")
    return True


@converter(aten.diagonal.default, validator=_diagonal_ok)
def diagonal(ctx, target, args, kwargs, name):
    """The two dimensions go last and are flattened; the diagonal is a slice of stride ``n2 + 1``."""
    x = ctx.to_trt(args[0])
    rank = len(x.shape)
    offset = argument(target, args, kwargs, "offset")
    d1, d2 = (B.normalize_dim(argument(target, args, kwargs, n), rank) for n in ("dim1", "dim2"))
    order = [d for d in range(rank) if d not in (d1, d2)] + [d1, d2]
    moved = B.permute(ctx, x, order)
    n1, n2 = x.shape[d1], x.shape[d2]
    lead = B.sizes(ctx, moved)[:-2]
    flat = B.reshape(ctx, moved, lead + [n1 * n2])
    start, length = _diag_geometry(n1, n2, offset)
    return B.slice_dim(ctx, flat, rank - 2, start, start + (length - 1) * (n2 + 1) + 1, n2 + 1, length=length)


#: This pack's choice, not a TensorRT limit: the most elements an as_strided view may have.
#: Its gather indices are a constant int64 table stored in the engine (32 MiB at this size).
AS_STRIDED_MAX_ELEMENTS = 1 << 22


def _as_strided_ok(node, settings):
    x = value_of(node.args[0])
    size, stride = list(node.args[1]), list(node.args[2])
    offset = node_argument(node, "storage_offset") or 0
    if not all(isinstance(v, int) for v in size + stride + [offset]) or not static_dims(node.args[0]):
        return Refusal("as_strided with dynamic sizes, strides or input shape")
    if not x.is_contiguous():
        return Refusal("as_strided of a non-contiguous tensor (it reads memory in an order TensorRT does not keep)")
    if math.prod(size) > AS_STRIDED_MAX_ELEMENTS:
        return Refusal(f"as_strided of {math.prod(size)} elements: the vision pack builds at most "
                       f"{AS_STRIDED_MAX_ELEMENTS} (its gather index table is a constant of the engine)")
    last = offset + sum((s - 1) * st for s, st in zip(size, stride) if s > 0)
    if last >= x.numel() or any(st < 0 for st in stride):
        return Refusal("as_strided reads outside the input's elements")
    return True


def _contiguous_strides(size: list[int]) -> list[int]:
    out, acc = [], 1
    for s in reversed(size):
        out.append(acc)
        acc *= max(s, 1)
    return out[::-1]


@converter(aten.as_strided.default, validator=_as_strided_ok)
def as_strided(ctx, target, args, kwargs, name):
    """A slice and a reshape when the strides are the contiguous ones, else a gather of the
    flattened input at constant indices."""
    x, size, stride = ctx.to_trt(args[0]), list(args[1]), list(args[2])
    offset = argument(target, args, kwargs, "storage_offset") or 0
    flat = B.reshape(ctx, x, [-1])
    contiguous = [st for s, st in zip(size, stride) if s > 1] == [st for s, st in zip(size, _contiguous_strides(size))
                                                                   if s > 1]
    if contiguous:
        n = math.prod(size)
        return B.reshape(ctx, B.slice_dim(ctx, flat, 0, offset, offset + n, length=n), size)
    index = torch.full((), offset, dtype=torch.int64)
    for d, (s, st) in enumerate(zip(size, stride)):
        shape = [1] * len(size)
        shape[d] = s
        index = index + (torch.arange(s, dtype=torch.int64) * st).reshape(shape)
    return ctx.out(ctx.net.add_gather(flat, ctx.constant(index.expand(size).contiguous()), 0), "as_strided")
