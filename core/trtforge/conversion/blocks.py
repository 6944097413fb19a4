"""Reusable building blocks for converters: promotion, elementwise, shape arithmetic, reshape.

Converters stay thin by composing these. Each takes the conversion context
first. Shapes are handled statically when every dimension is known and with
shape tensors (1-D int64) where a dimension is dynamic.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from .context import ConversionContext


def normalize_dim(dim: int, rank: int) -> int:
    """A non-negative dimension index (``-1`` -> ``rank - 1``), with a clear error when out of range."""
    if not -max(rank, 1) <= dim < max(rank, 1):
        raise IndexError(f"dimension {dim} out of range for a rank-{rank} tensor")
    return dim % max(rank, 1)


def axes_mask(dims: Sequence[int], rank: int) -> int:
    """The bitmask TensorRT reduce/softmax/topk layers take for ``dims``."""
    mask = 0
    for d in dims:
        mask |= 1 << normalize_dim(d, rank)
    return mask


def result_dtype(ctx: ConversionContext, *values: Any) -> torch.dtype:
    """torch's type promotion over ITensors, torch.Tensors and Python scalars."""
    def example(v: Any) -> Any:
        return torch.empty((1,), dtype=ctx.torch_dtype(v)) if ctx.is_tensor(v) else v

    acc = example(values[0])
    for v in values[1:]:
        e = example(v)
        dims = any(isinstance(t, torch.Tensor) and t.dim() > 0 for t in (acc, e))
        acc = torch.empty((1,) if dims else (), dtype=torch.result_type(acc, e))
    return acc.dtype if isinstance(acc, torch.Tensor) else torch.tensor(acc).dtype


def promote(ctx: ConversionContext, *values: Any, dtype: torch.dtype | None = None) -> list[Any]:
    """ITensors of one dtype (``dtype``, else torch's promotion of the operands), broadcast to one rank."""
    dtype = dtype or result_dtype(ctx, *values)
    return ctx.broadcast(*(ctx.to_trt(v, dtype) for v in values))


def elementwise(ctx: ConversionContext, op: Any, a: Any, b: Any, *, dtype: torch.dtype | None = None) -> Any:
    """``a <op> b`` with torch's type promotion and broadcasting (``op``: trt.ElementWiseOperation)."""
    if not (ctx.is_tensor(a) or ctx.is_tensor(b) or isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor)):
        raise ctx.fail("elementwise needs at least one tensor operand")
    a, b = promote(ctx, a, b, dtype=dtype)
    return ctx.out(ctx.net.add_elementwise(a, b, op), str(op).split(".")[-1].lower())


def unary(ctx: ConversionContext, op: Any, x: Any) -> Any:
    return ctx.out(ctx.net.add_unary(x, op), str(op).split(".")[-1].lower())


def dim_size(ctx: ConversionContext, x: Any, dim: int) -> Any:
    """Size of dimension ``dim`` of ``x`` as a 1-element int64 shape tensor."""
    dim = normalize_dim(dim, len(x.shape))
    if x.shape[dim] >= 0:
        return ctx.constant(torch.tensor([x.shape[dim]], dtype=torch.int64))
    return gather_1d(ctx, ctx.shape_of(x), [dim])


def gather_1d(ctx: ConversionContext, values: Any, indices: Sequence[int]) -> Any:
    idx = ctx.constant(torch.tensor(list(indices), dtype=torch.int64))
    return ctx.out(ctx.net.add_gather(values, idx, 0), "gather")


def shape_tensor(ctx: ConversionContext, dims: Sequence[Any]) -> Any:
    """A 1-D int64 shape tensor from ints and 1-element (or 0-d) int ITensors."""
    pieces: list[Any] = []
    run: list[int] = []
    for d in dims:
        if ctx.is_tensor(d):
            if run:
                pieces.append(ctx.constant(torch.tensor(run, dtype=torch.int64)))
                run = []
            d = ctx.cast(d, torch.int64)
            if len(d.shape) == 0:
                d = reshape(ctx, d, [1])
            pieces.append(d)
        else:
            run.append(int(d))
    if run:
        pieces.append(ctx.constant(torch.tensor(run, dtype=torch.int64)))
    if len(pieces) == 1:
        return pieces[0]
    return ctx.out(ctx.net.add_concatenation(pieces), "shape_cat")


def reshape(ctx: ConversionContext, x: Any, shape: Sequence[Any]) -> Any:
    """Reshape to ``shape``: ints (``-1`` infers one dim) and/or int ITensors for dynamic sizes."""
    layer = ctx.net.add_shuffle(x)
    if all(not ctx.is_tensor(d) for d in shape):
        layer.reshape_dims = tuple(int(d) for d in shape)
    else:
        layer.set_input(1, shape_tensor(ctx, shape))
    return ctx.out(layer, "reshape")


def unsqueeze(ctx: ConversionContext, x: Any, dim: int) -> Any:
    rank = len(x.shape)
    dim = normalize_dim(dim, rank + 1)
    if all(d >= 0 for d in x.shape):
        shape = list(x.shape)
        shape.insert(dim, 1)
        return reshape(ctx, x, shape)
    sizes = [dim_size(ctx, x, i) for i in range(rank)]
    sizes.insert(dim, 1)
    return reshape(ctx, x, sizes)


def permute(ctx: ConversionContext, x: Any, order: Sequence[int]) -> Any:
    layer = ctx.net.add_shuffle(x)
    layer.first_transpose = tuple(normalize_dim(o, len(x.shape)) for o in order)
    return ctx.out(layer, "permute")


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]
