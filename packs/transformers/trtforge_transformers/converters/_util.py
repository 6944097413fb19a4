"""What this pack needs that ``trtforge.conversion.blocks`` does not have: ``iota``.

Everything else (arguments by schema name, validator combinators, casts and shapes) comes
from the core's toolkit (``trtforge.conversion.args``, ``trtforge.conversion.blocks``).
"""
from __future__ import annotations

from typing import Any

import torch

from trtforge.conversion import blocks as B

__all__ = ["iota"]


def iota(ctx: Any, count: B.Size) -> Any:
    """``arange(count)`` as an int64 tensor; ``count`` is an int or a 1-element shape tensor
    (a dynamic sequence length): a constant when static, a LINSPACE fill otherwise."""
    if not ctx.is_tensor(count):
        return ctx.constant(torch.arange(int(count), dtype=torch.int64))
    layer = ctx.net.add_fill((1,), ctx.trt.FillOperation.LINSPACE, ctx.trt.DataType.INT64)
    layer.set_input(0, B.as_size_tensor(ctx, count))
    layer.set_input(1, ctx.constant(torch.tensor(0, dtype=torch.int64)))
    layer.set_input(2, ctx.constant(torch.tensor([1], dtype=torch.int64)))
    return ctx.out(layer, "iota")
