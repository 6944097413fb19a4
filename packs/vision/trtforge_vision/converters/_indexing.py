"""Shared helpers of the index and scatter families: index normalization, ``arange``,
moving indexed dimensions to the front, and scatter with a reduction.

TensorRT's scatter layers write each destination once: with duplicate indices the
winner is undefined. Every *accumulating* op (``index_put(accumulate=True)``,
``index_add``, ``scatter_add``, ``scatter_reduce``) is therefore built from a
one-hot comparison and a reduction, which is exact whatever the duplicates, at the
cost of ``index elements x destination length`` intermediate elements.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch

from trtforge.conversion import blocks as B

#: identity of each reduction, per dtype kind: what a destination no index hits contributes
_IDENTITY = {"SUM": lambda dt: 0, "PROD": lambda dt: 1,
             "MAX": lambda dt: -math.inf if dt.is_floating_point else torch.iinfo(dt).min,
             "MIN": lambda dt: math.inf if dt.is_floating_point else torch.iinfo(dt).max}


def along(ctx: Any, vec: Any, dim: int, rank: int) -> Any:
    """A 1-D tensor reshaped to lie along ``dim`` of a rank-``rank`` tensor (size 1 elsewhere)."""
    shape: list[B.Size] = [1] * rank
    shape[dim] = B.size(ctx, vec, 0)
    return B.reshape(ctx, vec, shape)


def index_values(ctx: Any, index: Any, length: B.Size) -> Any:
    """An integer index as an int64 ITensor, negative entries counted from the end (torch indexing)."""
    if isinstance(index, torch.Tensor):
        if bool((index >= 0).all()):
            return ctx.constant(index.to(torch.int64))
        if not ctx.is_tensor(length):
            return ctx.constant(torch.where(index < 0, index + length, index).to(torch.int64))
        index = ctx.constant(index)
    index = B.cast(ctx, index, torch.int64)
    size = B.reshape(ctx, B.as_size_tensor(ctx, length), [1] * len(index.shape))
    return B.where(ctx, B.compare(ctx, "lt", index, 0), B.elementwise(ctx, "SUM", index, size), index)


def broadcast_together(ctx: Any, tensors: Sequence[Any]) -> list[Any]:
    """Index tensors broadcast to one shape (adding ``0 * other`` lets TensorRT broadcast dynamic shapes)."""
    tensors = B.same_rank(ctx, *tensors)
    if len(tensors) < 2 or (all(B.is_static(t) for t in tensors) and len({tuple(t.shape) for t in tensors}) == 1):
        return tensors
    zero = None
    for t in tensors:
        z = B.elementwise(ctx, "PROD", t, 0)
        zero = z if zero is None else B.elementwise(ctx, "SUM", zero, z)
    return [B.elementwise(ctx, "SUM", t, zero) for t in tensors]


class Indexed:
    """``x[indices]`` of torch advanced indexing with integer index tensors, as TensorRT sees it.

    ``x`` is permuted so the indexed dimensions lead (``front``); ``nd`` holds the
    broadcast index tensors stacked on a last axis (a GatherND / ScatterND index).
    The result of the indexing is ``[*broadcast, *rest]`` in that layout, and
    torch's layout puts the broadcast dimensions at ``first`` instead when the
    index tensors are adjacent (``to_torch`` / ``from_torch`` convert).
    """

    def __init__(self, ctx: Any, x: Any, indices: Sequence[Any]) -> None:
        x = ctx.to_trt(x)
        self.rank = len(x.shape)
        self.dims = [d for d, t in enumerate(indices) if t is not None]
        rest = [d for d in range(self.rank) if d not in self.dims]
        self.perm = self.dims + rest
        self.front = B.permute(ctx, x, self.perm) if self.perm != list(range(self.rank)) else x
        idx = [index_values(ctx, indices[d], B.size(ctx, x, d)) for d in self.dims]
        self.index = broadcast_together(ctx, idx)
        self.nb = len(self.index[0].shape)
        self.nrest = len(rest)
        adjacent = self.dims == list(range(self.dims[0], self.dims[-1] + 1))
        self.first = self.dims[0] if adjacent else 0

    def nd(self, ctx: Any) -> Any:
        """The stacked index ``[*broadcast, k]``."""
        parts = [B.unsqueeze(ctx, t, len(t.shape)) for t in self.index]
        return B.concat(ctx, parts, -1)

    def _order(self) -> list[int]:
        nb, f = self.nb, self.first
        return [nb + r for r in range(f)] + list(range(nb)) + [nb + r for r in range(f, self.nrest)]

    def to_torch(self, ctx: Any, y: Any) -> Any:
        """A ``[*broadcast, *rest]`` result in torch's layout."""
        order = self._order()
        return B.permute(ctx, y, order) if order != list(range(len(order))) else y

    def from_torch(self, ctx: Any, y: Any) -> Any:
        """A tensor in torch's layout of the indexing result as ``[*broadcast, *rest]``."""
        order = self._order()
        inverse = [order.index(i) for i in range(len(order))]
        return B.permute(ctx, y, inverse) if order != list(range(len(order))) else y

    def back(self, ctx: Any, front: Any) -> Any:
        """A tensor in the front layout permuted back to ``x``'s."""
        inverse = [self.perm.index(i) for i in range(self.rank)]
        return B.permute(ctx, front, inverse) if self.perm != list(range(self.rank)) else front

    def gather(self, ctx: Any) -> Any:
        """``x[indices]`` in torch's layout."""
        layer = ctx.net.add_gather_v2(self.front, self.nd(ctx), ctx.trt.GatherMode.ND)
        return self.to_torch(ctx, ctx.out(layer, "gather_nd"))

    def put(self, ctx: Any, values: Any, accumulate: bool) -> Any:
        """``x[indices] = values`` (``+=`` with ``accumulate``), returning the new ``x``."""
        dtype = ctx.torch_dtype(self.front)
        # values broadcast to the indexing result's shape (read from a gather: no arithmetic on x,
        # whose inf/NaN must not leak into the values)
        shaped = B.expand(ctx, B.cast(ctx, ctx.to_trt(values), dtype), B.sizes(ctx, self.gather(ctx)))
        updates = self.from_torch(ctx, shaped)
        if not accumulate:
            layer = ctx.net.add_scatter(self.front, self.nd(ctx), updates, ctx.trt.ScatterMode.ND)
            return self.back(ctx, ctx.out(layer, "scatter_nd"))
        return self.back(ctx, self._accumulate(ctx, updates, dtype))

    def _accumulate(self, ctx: Any, updates: Any, dtype: torch.dtype) -> Any:
        """Sum of duplicates: ``front.reshape(P, R) + onehot(linear index)^T @ updates.reshape(N, R)``."""
        have = B.sizes(ctx, self.front)
        k = len(self.dims)
        linear: Any = None
        for j, t in enumerate(self.index):
            stride = B.prod(ctx, have[j + 1:k]) if j + 1 < k else 1
            term = B.elementwise(ctx, "PROD", t, B.reshape(ctx, B.as_size_tensor(ctx, stride), []))
            linear = term if linear is None else B.elementwise(ctx, "SUM", linear, term)
        positions = B.prod(ctx, have[:k])
        rest = B.prod(ctx, have[k:]) if have[k:] else 1
        flat_idx = B.reshape(ctx, linear, [-1, 1])
        onehot = B.cast(ctx, B.compare(ctx, "eq", flat_idx, B.reshape(ctx, B.arange(ctx, positions), [1, -1])),
                        torch.float32)
        vals = B.cast(ctx, B.reshape(ctx, updates, [-1, rest]), torch.float32)
        added = B.matmul(ctx, onehot, vals, transpose_a=True)
        base = B.cast(ctx, B.reshape(ctx, self.front, [positions, rest]), torch.float32)
        total = B.cast(ctx, B.elementwise(ctx, "SUM", base, added), dtype)
        return B.reshape(ctx, total, have)


def scatter_reduce(ctx: Any, x: Any, dim: int, index: Any, src: Any, op: str, include_self: bool,
                   mean: bool = False) -> Any:
    """``x.scatter_reduce(dim, index, src, op)`` (op: SUM PROD MAX MIN; ``mean`` averages the SUM).

    One-hot of ``index`` against ``arange(x.shape[dim])`` selects, per destination, the
    sources that land on it; a reduction over ``dim`` combines them exactly.
    """
    x, index = ctx.to_trt(x), B.cast(ctx, ctx.to_trt(index), torch.int64)
    dtype = ctx.torch_dtype(x)
    rank = len(x.shape)
    dim = B.normalize_dim(dim, rank)
    src = B.cast(ctx, _like_index(ctx, ctx.to_trt(src), index), dtype)
    n = B.size(ctx, x, dim)
    hot = B.compare(ctx, "eq", B.unsqueeze(ctx, index, rank), B.reshape(ctx, B.arange(ctx, n), [1] * rank + [-1]))
    picked = B.where(ctx, hot, B.unsqueeze(ctx, src, rank), _IDENTITY[op](dtype), dtype=dtype)
    swap = list(range(rank + 1))
    swap[dim], swap[rank] = rank, dim  # the destination axis (last) takes ``dim``'s place

    def to_dest(t: Any, how: str) -> Any:
        return B.squeeze(ctx, B.permute(ctx, B.reduce(ctx, t, how, [dim], keepdim=True), swap), [rank])

    reduced, count = to_dest(picked, op), to_dest(B.cast(ctx, hot, torch.int32), "SUM")
    # destinations no index reaches (the index may be smaller than x) keep x: padding values are never read
    reduced, count = _pad_to(ctx, reduced, x), _pad_to(ctx, count, x)
    hit = B.compare(ctx, "gt", count, 0)
    if mean:
        total = B.elementwise(ctx, "SUM", reduced, x) if include_self else reduced
        n_el = B.elementwise(ctx, "SUM", count, 1) if include_self else count
        n_el = B.cast(ctx, B.elementwise(ctx, "MAX", n_el, 1), dtype)
        combined = B.elementwise(ctx, "DIV" if dtype.is_floating_point else "FLOOR_DIV", total, n_el)
    else:
        combined = B.elementwise(ctx, op, x, reduced) if include_self else reduced
    return B.where(ctx, hit, combined, x)


def _like_index(ctx: Any, src: Any, index: Any) -> Any:
    """``src`` restricted to ``index``'s extent (torch reads only ``src[:index.shape]``)."""
    if B.is_static(src) and tuple(src.shape) == tuple(index.shape):
        return src
    rank = len(index.shape)
    return B.slice_nd(ctx, src, [0] * rank, B.sizes(ctx, index), [1] * rank)


def _pad_to(ctx: Any, y: Any, like: Any) -> Any:
    """``y`` padded at the end of each dimension up to ``like``'s size (index smaller than ``x``)."""
    have, want = B.sizes(ctx, y), B.sizes(ctx, like)
    if all(not ctx.is_tensor(h) and not ctx.is_tensor(w) and h == w for h, w in zip(have, want)):
        return y
    post = [B.dim_arith(ctx, "sub", w, h) for h, w in zip(have, want)]
    return B.pad(ctx, y, [0] * len(have), post)
