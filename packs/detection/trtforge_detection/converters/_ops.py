"""Short names over :mod:`trtforge.conversion.blocks` for the detection converters.

The detection ops are dozens of elementwise steps on box coordinates; spelled
as ``blocks.elementwise(ctx, "SUB", a, b)`` the formulas drown. :class:`Ops`
binds the context once (``o.sub(a, b)``) and only delegates: promotion,
broadcasting and NaN-correct comparisons stay the core's.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from trtforge.conversion import blocks


class Ops:
    """Elementwise, shape and reduction helpers bound to one conversion context."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    # -- constants and casts --------------------------------------------------
    def const(self, value: Any, dtype: torch.dtype = torch.float32) -> Any:
        return self.ctx.constant(value if isinstance(value, torch.Tensor) else torch.tensor(value), dtype)

    def cast(self, x: Any, dtype: torch.dtype) -> Any:
        return blocks.cast(self.ctx, self.ctx.to_trt(x), dtype)

    # -- elementwise ----------------------------------------------------------
    def add(self, a: Any, b: Any) -> Any:
        return blocks.elementwise(self.ctx, "SUM", a, b)

    def sub(self, a: Any, b: Any) -> Any:
        return blocks.elementwise(self.ctx, "SUB", a, b)

    def mul(self, a: Any, b: Any) -> Any:
        return blocks.elementwise(self.ctx, "PROD", a, b)

    def div(self, a: Any, b: Any) -> Any:
        return blocks.elementwise(self.ctx, "DIV", a, b)

    def maximum(self, a: Any, b: Any) -> Any:
        return blocks.elementwise(self.ctx, "MAX", a, b)

    def minimum(self, a: Any, b: Any) -> Any:
        return blocks.elementwise(self.ctx, "MIN", a, b)

    def clamp(self, x: Any, lo: Any, hi: Any) -> Any:
        return self.minimum(self.maximum(x, lo), hi)

    def gt(self, a: Any, b: Any) -> Any:
        return blocks.compare(self.ctx, "gt", a, b)

    def lt(self, a: Any, b: Any) -> Any:
        return blocks.compare(self.ctx, "lt", a, b)

    def ge(self, a: Any, b: Any) -> Any:
        return blocks.compare(self.ctx, "ge", a, b)

    def le(self, a: Any, b: Any) -> Any:
        return blocks.compare(self.ctx, "le", a, b)

    def eq(self, a: Any, b: Any) -> Any:
        return blocks.compare(self.ctx, "eq", a, b)

    def and_(self, a: Any, b: Any) -> Any:
        return blocks.logical(self.ctx, "and", a, b)

    def or_(self, a: Any, b: Any) -> Any:
        return blocks.logical(self.ctx, "or", a, b)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        return blocks.where(self.ctx, cond, a, b)

    def floor(self, x: Any) -> Any:
        return blocks.unary(self.ctx, "FLOOR", x)

    def ceil(self, x: Any) -> Any:
        return blocks.unary(self.ctx, "CEIL", x)

    def abs(self, x: Any) -> Any:
        return blocks.unary(self.ctx, "ABS", x)

    def round_half_away(self, x: Any) -> Any:
        """C's ``round`` (halves away from zero); TensorRT's ROUND rounds halves to even."""
        return self.where(self.lt(x, 0.0), self.ceil(self.sub(x, 0.5)), self.floor(self.add(x, 0.5)))

    # -- shapes ---------------------------------------------------------------
    def reshape(self, x: Any, shape: Sequence[Any]) -> Any:
        return blocks.reshape(self.ctx, x, shape)

    def unsqueeze(self, x: Any, dim: int) -> Any:
        return blocks.unsqueeze(self.ctx, x, dim)

    def permute(self, x: Any, order: Sequence[int]) -> Any:
        return blocks.permute(self.ctx, x, order)

    def concat(self, xs: Sequence[Any], axis: int) -> Any:
        return blocks.concat(self.ctx, xs, axis)

    def slice(self, x: Any, axis: int, start: int, size: int) -> Any:
        return blocks.slice_dim(self.ctx, x, axis, start, start + size)

    def select(self, x: Any, axis: int, index: int) -> Any:
        """``x.select(axis, index)``: the axis disappears."""
        return blocks.select(self.ctx, x, axis, index)

    def gather(self, data: Any, indices: Any, axis: int = 0) -> Any:
        return self.ctx.out(self.ctx.net.add_gather(data, indices, axis), "gather")

    def iota(self, like: Any, axis: int, upper: int, dtype: torch.dtype = torch.int32) -> Any:
        """``arange(like.shape[axis])``: a constant, or a slice of ``arange(upper)`` when the size is dynamic."""
        if like.shape[axis] >= 0:
            return self.const(torch.arange(like.shape[axis]), dtype)
        full = self.const(torch.arange(upper), dtype)
        return blocks.slice_nd(self.ctx, full, [0], [blocks.dim_size(self.ctx, like, axis)], [1])

    # -- reductions and contractions -------------------------------------------
    def sum(self, x: Any, axes: Sequence[int], keep: bool = False) -> Any:
        return blocks.reduce(self.ctx, x, "SUM", axes, keep)

    def matmul(self, a: Any, b: Any) -> Any:
        return blocks.matmul(self.ctx, a, b)

