"""Math blocks: type promotion, casts, elementwise, activations, reductions, matmul, softmax.

They follow torch semantics (type promotion, broadcasting, bool results of
comparisons) so converters only map arguments.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import torch

from ..dtypes import cast_layer
from .shapes import as_size_tensor, axes_mask, normalize_dim, reshape, same_rank, sizes, squeeze as _squeeze, to_rank

if TYPE_CHECKING:  # annotations only: the context uses blocks, not the reverse
    from ..context import ConversionContext

_LOW_FLOATS = (torch.float16, torch.bfloat16)


# -- dtypes -----------------------------------------------------------------------
def _example(ctx: ConversionContext, v: Any) -> Any:
    """What torch.result_type needs to know about an operand: its dtype and whether it is 0-d."""
    if ctx.is_tensor(v):
        return torch.empty((1,) if len(v.shape) else (), dtype=ctx.torch_dtype(v))
    if isinstance(v, torch.Tensor):
        return torch.empty((1,) if v.dim() else (), dtype=v.dtype)
    return v


def result_dtype(ctx: ConversionContext, *values: Any) -> torch.dtype:
    """torch's type promotion over ITensors, torch.Tensors and Python scalars (0-d tensors rank lower)."""
    examples = [_example(ctx, v) for v in values]
    tensors = [e for e in examples if isinstance(e, torch.Tensor)]
    if not tensors:
        if any(isinstance(e, float) for e in examples):
            return torch.get_default_dtype()
        return torch.bool if all(isinstance(e, bool) for e in examples) else torch.int64
    acc = examples[0]
    for e in examples[1:]:
        dt = torch.result_type(acc, e)
        dims = any(isinstance(t, torch.Tensor) and t.dim() > 0 for t in (acc, e))
        if isinstance(acc, torch.Tensor) or isinstance(e, torch.Tensor):
            acc = torch.empty((1,) if dims else (), dtype=dt)
        else:
            acc = 0.0 if dt.is_floating_point else (False if dt == torch.bool else 0)
    return acc.dtype if isinstance(acc, torch.Tensor) else torch.tensor(acc).dtype


def cast(ctx: ConversionContext, x: Any, dtype: torch.dtype) -> Any:
    """Cast with torch semantics: to bool means ``x != 0``; float to int truncates."""
    if dtype == torch.bool and ctx.torch_dtype(x) != torch.bool:
        return compare(ctx, "ne", x, 0)
    if ctx.torch_dtype(x) == torch.bool and dtype != torch.bool and (dtype.is_floating_point or dtype == torch.int64):
        x = cast_layer(ctx, x, torch.int32)  # bool casts only to/from int32 everywhere
    return cast_layer(ctx, x, dtype)


def arange(ctx: ConversionContext, n: Any, dtype: torch.dtype = torch.int64) -> Any:
    """``torch.arange(n)``: a constant when ``n`` is an int, a LINSPACE fill when it is a size
    tensor (a dynamic or data-dependent length; 0 gives an empty tensor)."""
    if not ctx.is_tensor(n):
        return ctx.constant(torch.arange(int(n), dtype=dtype))
    layer = ctx.net.add_fill((1,), ctx.trt.FillOperation.LINSPACE, ctx.trt.DataType.INT64)
    layer.set_input(0, as_size_tensor(ctx, n))
    layer.set_input(1, ctx.constant(torch.tensor(0, dtype=torch.int64)))
    layer.set_input(2, ctx.constant(torch.tensor([1], dtype=torch.int64)))
    return cast(ctx, ctx.out(layer, "arange"), dtype)


def to_float(ctx: ConversionContext, x: Any, dtype: torch.dtype | None = None) -> Any:
    """``x`` as a floating tensor: ints and bools become ``dtype`` (default float32), floats stay."""
    if ctx.torch_dtype(x).is_floating_point:
        return x
    return cast(ctx, x, dtype or torch.get_default_dtype())


def upcast(ctx: ConversionContext, x: Any) -> Any:
    """float16/bfloat16 to float32, for numerically sensitive layers (normalization, variance)."""
    return cast_layer(ctx, x, torch.float32) if ctx.torch_dtype(x) in _LOW_FLOATS else x


def promote(ctx: ConversionContext, *values: Any, dtype: torch.dtype | None = None) -> list[Any]:
    """ITensors of one dtype (``dtype``, else torch's promotion of the operands), broadcast to one rank."""
    dtype = dtype or result_dtype(ctx, *values)
    tensors = [cast(ctx, v, dtype) if ctx.is_tensor(v) else ctx.to_trt(v, dtype) for v in values]
    return same_rank(ctx, *tensors)


def scalar(ctx: ConversionContext, value: Any, dtype: torch.dtype, rank: int = 0) -> Any:
    """A constant holding ``value`` with ``rank`` size-1 dimensions (broadcasts against a rank-``rank`` tensor)."""
    return ctx.constant(torch.full([1] * rank, value, dtype=dtype))


# -- elementwise ------------------------------------------------------------------
def elementwise(ctx: ConversionContext, op: Any, a: Any, b: Any, *, dtype: torch.dtype | None = None) -> Any:
    """``a <op> b`` with torch's type promotion and broadcasting (``op``: trt.ElementWiseOperation or its name)."""
    if not any(ctx.is_tensor(v) or isinstance(v, torch.Tensor) for v in (a, b)):
        raise ctx.fail("elementwise needs at least one tensor operand")
    if isinstance(op, str):
        op = getattr(ctx.trt.ElementWiseOperation, op)
    a, b = promote(ctx, a, b, dtype=dtype)
    return ctx.out(ctx.net.add_elementwise(a, b, op), str(op).split(".")[-1].lower())


def unary(ctx: ConversionContext, op: Any, x: Any) -> Any:
    """One TensorRT unary layer (``op``: trt.UnaryOperation or its name)."""
    x = ctx.to_trt(x)
    if isinstance(op, str):
        op = getattr(ctx.trt.UnaryOperation, op)
    return ctx.out(ctx.net.add_unary(x, op), str(op).split(".")[-1].lower())


def activation(ctx: ConversionContext, kind: str, x: Any, alpha: float | None = None, beta: float | None = None) -> Any:
    """One TensorRT activation layer (``kind``: a trt.ActivationType name such as ``"RELU"``)."""
    x = ctx.to_trt(x)
    layer = ctx.net.add_activation(x, getattr(ctx.trt.ActivationType, kind))
    if alpha is not None:
        layer.alpha = float(alpha)
    if beta is not None:
        layer.beta = float(beta)
    return ctx.out(layer, kind.lower())


_COMPARE = {"eq": "EQUAL", "gt": "GREATER", "lt": "LESS"}


def compare(ctx: ConversionContext, op: str, a: Any, b: Any) -> Any:
    """``a <op> b`` as a bool tensor (``op``: eq ne lt le gt ge), NaN-correct like torch."""
    dtype = result_dtype(ctx, a, b)
    if dtype == torch.bool:
        dtype = torch.int32
    a, b = promote(ctx, a, b, dtype=dtype)
    if op in _COMPARE:
        return elementwise(ctx, _COMPARE[op], a, b)
    if op == "ne":
        return unary(ctx, "NOT", elementwise(ctx, "EQUAL", a, b))
    strict = elementwise(ctx, "LESS" if op == "le" else "GREATER", a, b)
    return elementwise(ctx, "OR", strict, elementwise(ctx, "EQUAL", a, b))


def logical(ctx: ConversionContext, op: str, a: Any, b: Any | None = None) -> Any:
    """Logical ``and``/``or``/``xor``/``not`` of truth values (non-bool operands mean ``!= 0``)."""
    a = cast(ctx, ctx.to_trt(a), torch.bool)
    if op == "not":
        return unary(ctx, "NOT", a)
    b = cast(ctx, ctx.to_trt(b), torch.bool)
    return elementwise(ctx, op.upper(), a, b, dtype=torch.bool)


def where(ctx: ConversionContext, cond: Any, a: Any, b: Any, *, dtype: torch.dtype | None = None) -> Any:
    """``torch.where(cond, a, b)`` with promotion of ``a``/``b`` and broadcasting of all three."""
    dtype = dtype or result_dtype(ctx, a, b)
    cond = cast(ctx, ctx.to_trt(cond), torch.bool)
    a, b = promote(ctx, a, b, dtype=dtype)
    cond, a, b = same_rank(ctx, cond, a, b)
    return ctx.out(ctx.net.add_select(cond, a, b), "where")


# -- reductions -------------------------------------------------------------------
def reduce(ctx: ConversionContext, x: Any, op: str, dims: Sequence[int] | None = None, keepdim: bool = False) -> Any:
    """Reduce over ``dims`` (all when None or empty); ``op``: a trt.ReduceOperation name (SUM AVG MAX MIN PROD)."""
    x = ctx.to_trt(x)
    rank = len(x.shape)
    if rank == 0:
        return x
    dims = list(range(rank)) if not dims else [normalize_dim(d, rank) for d in dims]
    layer = ctx.net.add_reduce(x, getattr(ctx.trt.ReduceOperation, op), axes_mask(dims, rank), bool(keepdim))
    return ctx.out(layer, f"reduce_{op.lower()}")


def softmax(ctx: ConversionContext, x: Any, dim: int) -> Any:
    """Softmax over one dimension (a rank-0 input is treated as rank 1)."""
    x = ctx.to_trt(x)
    rank = len(x.shape)
    if rank == 0:
        return reshape(ctx, softmax(ctx, reshape(ctx, x, [1]), 0), [])
    layer = ctx.net.add_softmax(x)
    layer.axes = axes_mask([dim], rank)
    return ctx.out(layer, "softmax")


def log_softmax(ctx: ConversionContext, x: Any, dim: int) -> Any:
    """``x - max - log(sum(exp(x - max)))``: stable where ``log(softmax)`` underflows to -inf."""
    shifted = elementwise(ctx, "SUB", x, reduce(ctx, x, "MAX", [dim], keepdim=True))
    total = reduce(ctx, unary(ctx, "EXP", shifted), "SUM", [dim], keepdim=True)
    return elementwise(ctx, "SUB", shifted, unary(ctx, "LOG", total))


# -- contractions -----------------------------------------------------------------
def matmul(ctx: ConversionContext, a: Any, b: Any, *, transpose_a: bool = False, transpose_b: bool = False) -> Any:
    """``torch.matmul`` (1-D operands as vectors, batch dims broadcast); optional transposes of the last two dims.

    ``a``/``b`` may be ITensors or torch.Tensors (weights become constants).
    """
    a, b = ctx.to_trt(a), ctx.to_trt(b)
    if len(a.shape) == 1 and len(b.shape) > 2:  # vector @ batched matrix: a 1 x K matrix, then drop that row
        return squeeze_dim(ctx, matmul(ctx, reshape(ctx, a, [1, -1]), b, transpose_b=transpose_b), -2)
    if len(b.shape) == 1 and len(a.shape) > 2:  # batched matrix @ vector: a K x 1 matrix
        return squeeze_dim(ctx, matmul(ctx, a, reshape(ctx, b, [-1, 1]), transpose_a=transpose_a), -1)
    mop = ctx.trt.MatrixOperation
    op_a = mop.VECTOR if len(a.shape) == 1 else (mop.TRANSPOSE if transpose_a else mop.NONE)
    op_b = mop.VECTOR if len(b.shape) == 1 else (mop.TRANSPOSE if transpose_b else mop.NONE)
    if len(a.shape) > 1 and len(b.shape) > 1 and len(a.shape) != len(b.shape):
        rank = max(len(a.shape), len(b.shape))
        a, b = to_rank(ctx, a, rank), to_rank(ctx, b, rank)
    return ctx.out(ctx.net.add_matrix_multiply(a, op_a, b, op_b), "matmul")


def numel_of(ctx: ConversionContext, x: Any, dims: Sequence[int]) -> Any:
    """Number of elements over ``dims`` of ``x`` (int or 1-element int64 tensor)."""
    from .shapes import prod

    s = sizes(ctx, x)
    return prod(ctx, [s[normalize_dim(d, len(s))] for d in dims])


def squeeze_dim(ctx: ConversionContext, x: Any, dim: int) -> Any:
    return _squeeze(ctx, x, [dim])
