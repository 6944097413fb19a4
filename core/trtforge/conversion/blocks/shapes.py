"""Shape blocks: dimension sizes, shape arithmetic and the layers that move data without math.

A *size* is a Python ``int`` when TensorRT knows the dimension at build time and a
1-element int64 shape tensor when it does not. Every block takes sizes in that
form and folds arithmetic on ints in Python, so static shapes add no layers.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Sequence, Union

import torch

from ..dtypes import cast_layer

if TYPE_CHECKING:  # annotations only: the context uses blocks, not the reverse
    from ..context import ConversionContext

#: an ``int`` (known at build time) or a 1-element int64 ITensor
Size = Union[int, Any]

#: slice ``end`` values at or beyond this mean "to the end" (torch uses sys.maxsize)
_TO_END = 2**62


def normalize_dim(dim: int, rank: int) -> int:
    """A non-negative dimension index (``-1`` -> ``rank - 1``), with a clear error when out of range."""
    if not -max(rank, 1) <= dim < max(rank, 1):
        raise IndexError(f"dimension {dim} out of range for a rank-{rank} tensor")
    return dim % max(rank, 1)


def axes_mask(dims: Sequence[int], rank: int) -> int:
    """The bitmask TensorRT reduce/softmax/topk/normalization layers take for ``dims``."""
    mask = 0
    for d in dims:
        mask |= 1 << normalize_dim(d, rank)
    return mask


def is_static(x: Any) -> bool:
    """True if every dimension of ``x`` is known at build time."""
    return all(d >= 0 for d in x.shape)


def gather_1d(ctx: ConversionContext, values: Any, indices: Sequence[int]) -> Any:
    """Elements ``indices`` of the 1-D tensor ``values``, as a 1-D tensor."""
    idx = ctx.constant(torch.tensor(list(indices), dtype=torch.int64))
    return ctx.out(ctx.net.add_gather(values, idx, 0), "gather")


def dim_size(ctx: ConversionContext, x: Any, dim: int) -> Any:
    """Size of dimension ``dim`` of ``x`` as a 1-element int64 shape tensor (a constant when static)."""
    x = ctx.to_trt(x)
    dim = normalize_dim(dim, len(x.shape))
    if x.shape[dim] >= 0:
        return ctx.constant(torch.tensor([x.shape[dim]], dtype=torch.int64))
    return gather_1d(ctx, shape_of(ctx, x), [dim])


def size(ctx: ConversionContext, x: Any, dim: int) -> Size:
    """Size of dimension ``dim``: an int when static, else a 1-element shape tensor."""
    x = ctx.to_trt(x)
    dim = normalize_dim(dim, len(x.shape))
    return int(x.shape[dim]) if x.shape[dim] >= 0 else dim_size(ctx, x, dim)


def sizes(ctx: ConversionContext, x: Any) -> list[Size]:
    """Every dimension of ``x`` as a size (ints where static; one shape layer for the rest)."""
    x = ctx.to_trt(x)
    shape = None
    out: list[Size] = []
    for i, d in enumerate(x.shape):
        if d >= 0:
            out.append(int(d))
        else:
            shape = shape if shape is not None else shape_of(ctx, x)
            out.append(gather_1d(ctx, shape, [i]))
    return out


def as_size_tensor(ctx: ConversionContext, d: Size) -> Any:
    """A size as a 1-element int64 tensor (ints become constants; 0-d tensors are reshaped)."""
    if not ctx.is_tensor(d):
        return ctx.constant(torch.tensor([int(d)], dtype=torch.int64))
    d = cast_layer(ctx, d, torch.int64)
    if len(d.shape) == 0:
        d = reshape(ctx, d, [1])
    return d


def shape_tensor(ctx: ConversionContext, dims: Sequence[Size]) -> Any:
    """A 1-D int64 shape tensor from ints and 1-element (or 0-d) int ITensors."""
    pieces: list[Any] = []
    run: list[int] = []
    for d in dims:
        if ctx.is_tensor(d):
            if run:
                pieces.append(ctx.constant(torch.tensor(run, dtype=torch.int64)))
                run = []
            pieces.append(as_size_tensor(ctx, d))
        else:
            run.append(int(d))
    if run or not pieces:
        pieces.append(ctx.constant(torch.tensor(run, dtype=torch.int64)))
    if len(pieces) == 1:
        return pieces[0]
    return ctx.out(ctx.net.add_concatenation(pieces), "shape_cat")


def shape_of(ctx: ConversionContext, x: Any) -> Any:
    """The shape of ``x`` as a 1-D int64 tensor: a constant when static, else a shape layer."""
    if is_static(x):
        return ctx.constant(torch.tensor(list(x.shape), dtype=torch.int64))
    return cast_layer(ctx, ctx.out(ctx.net.add_shape(x), "shape"), torch.int64)


_ARITH = {
    "add": (lambda a, b: a + b, "SUM"),
    "sub": (lambda a, b: a - b, "SUB"),
    "mul": (lambda a, b: a * b, "PROD"),
    "floordiv": (lambda a, b: a // b, "FLOOR_DIV"),
    "max": (max, "MAX"),
    "min": (min, "MIN"),
}


def dim_arith(ctx: ConversionContext, op: str, a: Size, b: Size) -> Size:
    """``a <op> b`` on sizes (``op``: add sub mul floordiv mod ceildiv max min); ints fold in Python."""
    if op == "mod":
        return dim_arith(ctx, "sub", a, dim_arith(ctx, "mul", dim_arith(ctx, "floordiv", a, b), b))
    if op == "ceildiv":
        neg = dim_arith(ctx, "floordiv", dim_arith(ctx, "mul", a, -1), b)
        return dim_arith(ctx, "mul", neg, -1)
    fn, trt_op = _ARITH[op]
    if not ctx.is_tensor(a) and not ctx.is_tensor(b):
        return fn(int(a), int(b))
    if op in ("add", "sub") and not ctx.is_tensor(b) and int(b) == 0:
        return a
    if op in ("mul", "floordiv") and not ctx.is_tensor(b) and int(b) == 1:
        return a
    if op == "mul" and not ctx.is_tensor(a) and int(a) == 1:
        return b
    ta, tb = as_size_tensor(ctx, a), as_size_tensor(ctx, b)
    layer = ctx.net.add_elementwise(ta, tb, getattr(ctx.trt.ElementWiseOperation, trt_op))
    return ctx.out(layer, f"size_{op}")


def prod(ctx: ConversionContext, values: Sequence[Size]) -> Size:
    """Product of sizes (1 for none)."""
    acc: Size = 1
    for v in values:
        acc = dim_arith(ctx, "mul", acc, v)
    return acc


# -- reshapes -------------------------------------------------------------------
def reshape(ctx: ConversionContext, x: Any, shape: Sequence[Size]) -> Any:
    """Reshape to ``shape``: ints (``-1`` infers one dim) and/or int ITensors for dynamic sizes.

    Zeros mean zero (torch semantics), not "copy the input dimension".
    """
    x = ctx.to_trt(x)
    shape = list(shape)
    runtime = [i for i, d in enumerate(shape) if ctx.is_tensor(d)]
    if len(runtime) == 1 and all(int(d) > 0 for i, d in enumerate(shape) if i != runtime[0]):
        shape[runtime[0]] = -1  # the one size known only at run time follows from the volume: stay static
    if all(not ctx.is_tensor(d) for d in shape) and tuple(int(d) for d in shape) == tuple(x.shape):
        return x
    layer = ctx.net.add_shuffle(x)
    layer.zero_is_placeholder = False
    if all(not ctx.is_tensor(d) for d in shape):
        layer.reshape_dims = tuple(int(d) for d in shape)
    else:
        layer.set_input(1, shape_tensor(ctx, shape))
    return ctx.out(layer, "reshape")


def unsqueeze(ctx: ConversionContext, x: Any, dim: int) -> Any:
    """Insert a size-1 dimension at ``dim`` (torch.unsqueeze)."""
    x = ctx.to_trt(x)
    dim = normalize_dim(dim, len(x.shape) + 1)
    new = sizes(ctx, x)
    new.insert(dim, 1)
    return reshape(ctx, x, new)


def squeeze(ctx: ConversionContext, x: Any, dims: Sequence[int] | None = None) -> Any:
    """Remove size-1 dimensions (those in ``dims``, or all statically-1 dims); others in ``dims`` stay."""
    x = ctx.to_trt(x)
    rank = len(x.shape)
    wanted = range(rank) if dims is None else {normalize_dim(d, rank) for d in dims}
    drop = {d for d in wanted if x.shape[d] == 1}
    if not drop:
        return x
    return reshape(ctx, x, [s for i, s in enumerate(sizes(ctx, x)) if i not in drop])


def flatten(ctx: ConversionContext, x: Any, start: int = 0, end: int = -1) -> Any:
    """Merge dimensions ``start..end`` into one (torch.flatten)."""
    x = ctx.to_trt(x)
    rank = len(x.shape)
    if rank == 0:
        return reshape(ctx, x, [1])
    start, end = normalize_dim(start, rank), normalize_dim(end, rank)
    s = sizes(ctx, x)
    return reshape(ctx, x, s[:start] + [prod(ctx, s[start:end + 1])] + s[end + 1:])


def permute(ctx: ConversionContext, x: Any, order: Sequence[int]) -> Any:
    """Transpose dimensions into ``order`` (torch.permute)."""
    x = ctx.to_trt(x)
    order = tuple(normalize_dim(o, len(x.shape)) for o in order)
    if order == tuple(range(len(x.shape))):
        return x
    layer = ctx.net.add_shuffle(x)
    layer.first_transpose = order
    return ctx.out(layer, "permute")


def to_rank(ctx: ConversionContext, x: Any, rank: int) -> Any:
    """Prepend size-1 dimensions until ``x`` has ``rank`` dimensions."""
    x = ctx.to_trt(x)
    missing = rank - len(x.shape)
    return reshape(ctx, x, [1] * missing + sizes(ctx, x)) if missing > 0 else x


def same_rank(ctx: ConversionContext, *tensors: Any) -> list[Any]:
    """``tensors`` with equal ranks, size-1 dimensions prepended: how TensorRT's elementwise
    layers broadcast (they broadcast size-1 dimensions, never missing ones)."""
    values = [ctx.to_trt(t) for t in tensors]
    rank = max(len(t.shape) for t in values)
    return [to_rank(ctx, t, rank) for t in values]


# -- slicing ----------------------------------------------------------------------
def slice_nd(
    ctx: ConversionContext,
    x: Any,
    start: Sequence[Size],
    shape: Sequence[Size],
    stride: Sequence[Size],
    *,
    mode: str | None = None,
    fill: Any = None,
) -> Any:
    """TensorRT slice with per-dimension start/size/stride given as sizes.

    ``mode``: a ``trt.SampleMode`` name (``"FILL"``, ``"WRAP"``, ``"CLAMP"``,
    ``"REFLECT"``); ``fill``: the value read outside the input in FILL mode.
    """
    x = ctx.to_trt(x)
    rank = len(x.shape)
    params = [list(start), list(shape), list(stride)]
    static = [all(not ctx.is_tensor(v) for v in p) for p in params]
    layer = ctx.net.add_slice(
        x,
        tuple(int(v) for v in params[0]) if static[0] else (0,) * rank,
        tuple(int(v) for v in params[1]) if static[1] else (1,) * rank,
        tuple(int(v) for v in params[2]) if static[2] else (1,) * rank,
    )
    for i, p in enumerate(params):
        if not static[i]:
            layer.set_input(i + 1, shape_tensor(ctx, p))
    if mode is not None:
        layer.mode = getattr(ctx.trt.SampleMode, mode)
    if fill is not None:
        layer.set_input(4, ctx.to_trt(fill, ctx.torch_dtype(x)) if ctx.is_tensor(fill) else
                        ctx.constant(torch.tensor(fill, dtype=ctx.torch_dtype(x))))
    return ctx.out(layer, "slice")


def clamp_index(ctx: ConversionContext, index: Size, length: Size) -> Size:
    """torch slice-bound semantics: negative counts from the end, then clamp to ``[0, length]``."""
    if not ctx.is_tensor(index):
        index = int(index)
        if index >= _TO_END:
            return length
        if index < 0:
            index = dim_arith(ctx, "add", length, index)
            return dim_arith(ctx, "max", index, 0)
        return dim_arith(ctx, "min", index, length) if ctx.is_tensor(length) or index > length else index
    # a runtime index: pick index + length where negative
    idx = as_size_tensor(ctx, index)
    wrapped = as_size_tensor(ctx, dim_arith(ctx, "add", idx, length))
    neg = ctx.out(ctx.net.add_elementwise(idx, ctx.constant(torch.tensor([0], dtype=torch.int64)),
                                          ctx.trt.ElementWiseOperation.LESS), "is_neg")
    idx = ctx.out(ctx.net.add_select(neg, wrapped, idx), "wrap")
    return dim_arith(ctx, "min", dim_arith(ctx, "max", idx, 0), length)


def slice_dim(ctx: ConversionContext, x: Any, dim: int, start: Size = 0, end: Size | None = None,
              step: int = 1, *, length: int | None = None) -> Any:
    """``x[..., start:end:step, ...]`` along ``dim`` with torch's clamping (``step`` > 0).

    ``length``: the result's size when the caller knows it statically (keeps the output
    dimension static where the bounds are computed at run time).
    """
    x = ctx.to_trt(x)
    rank = len(x.shape)
    dim = normalize_dim(dim, rank)
    n = size(ctx, x, dim)
    lo = clamp_index(ctx, start, n)
    if length is None:
        hi = n if end is None else clamp_index(ctx, end, n)
        length = dim_arith(ctx, "max", dim_arith(ctx, "ceildiv", dim_arith(ctx, "sub", hi, lo), step), 0)
    if not ctx.is_tensor(lo) and not ctx.is_tensor(length) and lo == 0 and length == n and step == 1:
        return x
    full = sizes(ctx, x)
    starts: list[Size] = [0] * rank
    strides: list[Size] = [1] * rank
    starts[dim], full[dim], strides[dim] = lo, length, step
    return slice_nd(ctx, x, starts, full, strides)


def select(ctx: ConversionContext, x: Any, dim: int, index: Size) -> Any:
    """``x.select(dim, index)``: one index along ``dim``, which disappears (negative counts from the end)."""
    x = ctx.to_trt(x)
    dim = normalize_dim(dim, len(x.shape))
    n = size(ctx, x, dim)
    if not ctx.is_tensor(index) and int(index) < 0:
        index = dim_arith(ctx, "add", n, int(index))
    elif ctx.is_tensor(index):
        index = clamp_index(ctx, index, n)
    if ctx.is_tensor(index):
        idx = reshape(ctx, as_size_tensor(ctx, index), [])
    else:
        idx = ctx.constant(torch.tensor(int(index), dtype=torch.int64))
    return ctx.out(ctx.net.add_gather(x, idx, dim), "select")


def concat(ctx: ConversionContext, tensors: Sequence[Any], dim: int) -> Any:
    """Concatenate along ``dim`` (tensors must share dtype and rank)."""
    tensors = [ctx.to_trt(t) for t in tensors]
    if len(tensors) == 1:
        return tensors[0]
    layer = ctx.net.add_concatenation(tensors)
    layer.axis = normalize_dim(dim, len(tensors[0].shape))
    return ctx.out(layer, "concat")


def expand(ctx: ConversionContext, x: Any, shape: Sequence[Size]) -> Any:
    """``x.expand(shape)``: size-1 dimensions broadcast (a stride-0 slice); ``-1`` keeps a dimension."""
    x = ctx.to_trt(x)
    x = to_rank(ctx, x, len(shape))
    have = sizes(ctx, x)
    target: list[Size] = []
    strides: list[int] = []
    for d, (h, want) in enumerate(zip(have, shape)):
        if not ctx.is_tensor(want) and int(want) == -1:
            want = h
        if not ctx.is_tensor(h) and h == 1 and not (not ctx.is_tensor(want) and int(want) == 1):
            strides.append(0)
        else:
            strides.append(1)
            want = h  # not broadcast: keep the input's size (static where known)
        target.append(want)
    if all(s == 1 for s in strides):
        return x
    return slice_nd(ctx, x, [0] * len(shape), target, strides)


def broadcast_to(ctx: ConversionContext, x: Any, like: Any) -> Any:
    """``x`` expanded to the shape of ``like`` (ranks aligned on the right)."""
    return expand(ctx, x, sizes(ctx, like))


def fill(ctx: ConversionContext, shape: Sequence[Size], value: Any, dtype: torch.dtype) -> Any:
    """A tensor of ``shape`` (sizes) holding ``value``: a 1-element constant broadcast by a slice."""
    scalar = ctx.constant(torch.full([1] * len(shape), value, dtype=dtype))
    return expand(ctx, scalar, list(shape))


def pad(ctx: ConversionContext, x: Any, pre: Sequence[Size], post: Sequence[Size], *, mode: str = "constant",
        value: float = 0.0) -> Any:
    """Pad every dimension by ``pre``/``post`` (negative trims).

    ``mode``: constant (``value``), reflect, replicate or circular (torch's F.pad modes),
    all one slice layer reading outside the input.
    """
    x = ctx.to_trt(x)
    sample = {"constant": "FILL", "reflect": "REFLECT", "replicate": "CLAMP", "circular": "WRAP"}[mode]
    have = sizes(ctx, x)
    start = [dim_arith(ctx, "mul", p, -1) for p in pre]
    out = [dim_arith(ctx, "add", dim_arith(ctx, "add", h, p), q) for h, p, q in zip(have, pre, post)]
    stride = [1] * len(have)
    if all(not ctx.is_tensor(p) and p == 0 for p in list(pre) + list(post)):
        return x
    fill_value = value if mode == "constant" and value != 0 else None
    return slice_nd(ctx, x, start, out, stride, mode=sample, fill=fill_value)


def constant_int(ctx: ConversionContext, values: Sequence[int]) -> Any:
    """A 1-D int64 constant (indices, axes)."""
    return ctx.constant(torch.tensor(list(values), dtype=torch.int64))


def static_numel(shape: Sequence[int]) -> int:
    return math.prod(int(d) for d in shape)
