"""Reusable building blocks for converters: promotion, elementwise, shape arithmetic, reshape, slicing.

Converters stay thin by composing these. Each takes the conversion context
first. Shapes are handled statically when every dimension is known and with
shape tensors (1-D int64) where a dimension is dynamic: a *size* is an ``int``
or a 1-element int64 ITensor, and the blocks accept lists mixing both.

* :mod:`.shapes`: sizes and shape arithmetic (``sizes``, ``dim_arith``,
  ``shape_tensor``), reshape/squeeze/unsqueeze/flatten/permute, slicing
  (``slice_nd``, ``slice_dim``, ``select``), ``expand``, ``fill``, ``pad``, ``concat``.
* :mod:`.shapes` also has ``same_rank`` (equal ranks for broadcasting).
* :mod:`.math`: type promotion and casts (``result_dtype``, ``promote``,
  ``cast``, ``upcast``), ``elementwise``/``unary``/``activation``,
  ``compare``/``logical``/``where``, ``reduce``, ``softmax``, ``matmul``, ``arange``.
"""
from __future__ import annotations

from typing import Any

from .math import (
    activation,
    arange,
    cast,
    compare,
    elementwise,
    log_softmax,
    logical,
    matmul,
    numel_of,
    promote,
    reduce,
    result_dtype,
    scalar,
    softmax,
    to_float,
    unary,
    upcast,
    where,
)
from .shapes import (
    Size,
    as_size_tensor,
    axes_mask,
    broadcast_to,
    clamp_index,
    concat,
    constant_int,
    dim_arith,
    dim_size,
    expand,
    fill,
    flatten,
    gather_1d,
    is_static,
    normalize_dim,
    pad,
    permute,
    prod,
    reshape,
    same_rank,
    select,
    shape_of,
    shape_tensor,
    size,
    sizes,
    slice_dim,
    slice_nd,
    squeeze,
    static_numel,
    to_rank,
    unsqueeze,
)


def as_list(value: Any) -> list[Any]:
    """``value`` as a list (a single value becomes a one-element list)."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


__all__ = [
    "Size", "activation", "arange", "as_list", "as_size_tensor", "axes_mask", "broadcast_to", "cast", "clamp_index",
    "compare", "concat", "constant_int", "dim_arith", "dim_size", "elementwise", "expand", "fill", "flatten",
    "gather_1d", "is_static", "log_softmax", "logical", "matmul", "normalize_dim", "numel_of", "pad", "permute",
    "prod", "promote", "reduce", "reshape", "result_dtype", "same_rank", "scalar", "select", "shape_of", "shape_tensor",
    "size", "sizes", "slice_dim", "slice_nd", "softmax", "squeeze", "static_numel", "to_float", "to_rank",
    "unary", "unsqueeze", "upcast", "where",
]
