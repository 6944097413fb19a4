"""Data-movement layers: constants, shapes, reshapes, slices, gathers and scatters.

Indices are bounds-checked: TensorRT documents out-of-range gather/scatter indices
as invalid, so the reference raises instead of guessing (that catches converters
that forget to normalise negative indices).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from ._common import dims, ints, name, weights

if TYPE_CHECKING:  # pragma: no cover - annotations only: the executor imports this module
    from .executor import LayerCtx


def _constant(ctx: LayerCtx, ins: list) -> list:
    shape = dims(ctx.layer.shape)
    given = ctx.state.get("constants", {}).get(ctx.layer.name)
    w = given.reshape(-1) if given is not None else weights(ctx.layer.weights)
    dtype = ctx.out_dtype(0)
    if w is None:
        return [torch.zeros(shape, dtype=dtype)]
    return [w.reshape(shape).to(dtype)]


def _shape(ctx: LayerCtx, ins: list) -> list:
    return [torch.tensor(list(ins[0].shape), dtype=torch.int64)]


def _shuffle(ctx: LayerCtx, ins: list) -> list:
    """transpose -> reshape -> transpose, with 0 copying an input dim if zero_is_placeholder."""
    layer = ctx.layer
    x = ins[0]
    x = x.permute(dims(layer.first_transpose, x.dim()))
    if len(ins) > 1 and ins[1] is not None:
        new = ints(ins[1])
    else:
        new = dims(layer.reshape_dims)
    if new is not None:
        placeholder = bool(layer.zero_is_placeholder)
        new = [x.shape[i] if (d == 0 and placeholder) else d for i, d in enumerate(new)]
        x = x.reshape(new)
    x = x.permute(dims(layer.second_transpose, x.dim()))
    return [x.contiguous()]


def _concat(ctx: LayerCtx, ins: list) -> list:
    axis = int(ctx.layer.axis)
    return [torch.cat(ins, dim=axis)]


# --------------------------------------------------------------------- slice
def _sample_index(ctx: LayerCtx, mode: str, x: torch.Tensor, d: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Map raw coordinates ``x`` on an axis of size ``d`` by SampleMode; also a validity mask for FILL."""
    if mode in ("STRICT_BOUNDS", "DEFAULT"):
        if x.numel() and (bool((x < 0).any()) or bool((x >= d).any())):
            raise ctx.fail(f"STRICT_BOUNDS slice reads coordinates {x.tolist()} outside [0, {d})")
        return x, None
    if mode == "WRAP":
        return torch.remainder(x, d), None
    if mode == "CLAMP":
        return x.clamp(0, d - 1), None
    if mode == "FILL":
        valid = (x >= 0) & (x < d)
        return x.clamp(0, max(d - 1, 0)), valid
    if mode == "REFLECT":
        if d == 1:
            return torch.zeros_like(x), None
        period = 2 * d - 2
        c = torch.remainder(x.abs(), period)
        return torch.where(c >= d, period - c, c), None
    raise ctx.unsupported(f"SampleMode.{mode}")


def _slice(ctx: LayerCtx, ins: list) -> list:
    layer = ctx.layer
    x = ins[0]
    r = x.dim()

    def param(idx: int, attr: str):
        if len(ins) > idx and ins[idx] is not None:
            return ints(ins[idx])
        return dims(getattr(layer, attr, None))  # ``axes`` is missing on older TensorRT

    start, size, stride = param(1, "start"), param(2, "shape"), param(3, "stride")
    axes = param(5, "axes")
    fill = ins[4] if len(ins) > 4 and ins[4] is not None else None
    if axes is not None and len(axes) > 0:
        s, z, t = [0] * r, list(x.shape), [1] * r
        for k, ax in enumerate(axes):
            ax %= r
            s[ax], z[ax], t[ax] = start[k], size[k], stride[k]
        start, size, stride = s, z, t
    mode = name(layer.mode)
    out = x
    masks = []
    for d in range(r):
        coords = start[d] + stride[d] * torch.arange(size[d], dtype=torch.int64)
        idx, valid = _sample_index(ctx, mode, coords, x.shape[d])
        out = out.index_select(d, idx)
        if valid is not None:
            shape = [1] * r
            shape[d] = -1
            masks.append(valid.reshape(shape))
    if mode == "FILL" and masks:
        mask = masks[0]
        for m in masks[1:]:
            mask = mask & m
        value = fill.reshape(()).to(out.dtype) if fill is not None else torch.zeros((), dtype=out.dtype)
        out = torch.where(mask, out, value)
    return [out]


# --------------------------------------------------------------------- gather / scatter
def _check_index(ctx: LayerCtx, idx: torch.Tensor, bound: int, what: str) -> torch.Tensor:
    idx = idx.long()
    if idx.numel() and (bool((idx < 0).any()) or bool((idx >= bound).any())):
        raise ctx.fail(f"{what} indices must lie in [0, {bound}); got min {int(idx.min())}, max {int(idx.max())}")
    return idx


def _gather_default(data: torch.Tensor, idx: torch.Tensor, axis: int) -> torch.Tensor:
    flat = data.index_select(axis, idx.reshape(-1))
    return flat.reshape(tuple(data.shape[:axis]) + tuple(idx.shape) + tuple(data.shape[axis + 1:]))


def _gather_nd(data: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    return data[tuple(idx.unbind(-1))]


def _gather(ctx: LayerCtx, ins: list) -> list:
    data, idx = ins
    layer = ctx.layer
    mode = name(layer.mode)
    ne = int(layer.num_elementwise_dims)
    axis = int(layer.axis)
    if mode == "DEFAULT":
        idx = _check_index(ctx, idx, data.shape[axis], "gather")
        if ne == 0:
            return [_gather_default(data, idx, axis)]
        n = max(data.shape[0], idx.shape[0])
        parts = [
            _gather_default(data[i if data.shape[0] > 1 else 0], idx[i if idx.shape[0] > 1 else 0], axis - 1)
            for i in range(n)
        ]
        return [torch.stack(parts)]
    if mode == "ELEMENT":
        idx = _check_index(ctx, idx, data.shape[axis], "gather")
        return [torch.gather(data, axis, idx)]
    if mode == "ND":
        k = idx.shape[-1]
        idx = idx.long()
        for j in range(k):
            _check_index(ctx, idx[..., j], data.shape[ne + j], "gather ND")
        if ne == 0:
            return [_gather_nd(data, idx)]
        batch = tuple(data.shape[:ne])
        nb = math.prod(batch)
        db = data.reshape((nb,) + tuple(data.shape[ne:]))
        ib = idx.reshape((nb,) + tuple(idx.shape[ne:]))
        out = torch.stack([_gather_nd(db[i], ib[i]) for i in range(nb)])
        return [out.reshape(batch + tuple(out.shape[1:]))]
    raise ctx.unsupported(f"GatherMode.{mode}")


def _scatter(ctx: LayerCtx, ins: list) -> list:
    data, idx, updates = ins
    mode = name(ctx.layer.mode)
    if mode == "ELEMENT":
        axis = int(ctx.layer.axis)
        idx = _check_index(ctx, idx, data.shape[axis], "scatter")
        return [torch.scatter(data, axis, idx, updates.to(data.dtype))]
    if mode == "ND":
        idx = idx.long()
        for j in range(idx.shape[-1]):
            _check_index(ctx, idx[..., j], data.shape[j], "scatter ND")
        out = data.clone()
        out[tuple(idx.unbind(-1))] = updates.to(data.dtype)
        return [out]
    raise ctx.unsupported(f"ScatterMode.{mode}")


# --------------------------------------------------------------------- misc shape layers
def _padding(ctx: LayerCtx, ins: list) -> list:
    """Zero padding of the innermost dims; negative padding trims."""
    x = ins[0]
    pre, post = dims(ctx.layer.pre_padding_nd), dims(ctx.layer.post_padding_nd)
    pads: list[int] = []
    for p, q in zip(reversed(pre), reversed(post)):
        pads += [p, q]
    if x.dtype == torch.bool:
        return [F.pad(x.to(torch.uint8), pads).bool()]
    return [F.pad(x, pads)]


def _squeeze(ctx: LayerCtx, ins: list) -> list:
    x = ins[0]
    if len(ins) > 1 and ins[1] is not None:
        axes = [a % x.dim() for a in ints(ins[1])]
    else:  # no axes: every dimension that is statically 1 in the network
        axes = [i for i, d in enumerate(ctx.in_shape(0)) if d == 1]
    bad = [a for a in axes if x.shape[a] != 1]
    if bad:
        raise ctx.fail(f"squeeze axes {bad} of shape {tuple(x.shape)} are not 1")
    return [x.squeeze(tuple(axes)) if axes else x]


def _unsqueeze(ctx: LayerCtx, ins: list) -> list:
    x, axes_t = ins
    rank = x.dim() + axes_t.numel()
    y = x
    for a in sorted(a % rank for a in ints(axes_t)):
        y = y.unsqueeze(a)
    return [y]


def _fill(ctx: LayerCtx, ins: list) -> list:
    layer = ctx.layer

    def given(i):
        return ins[i] if len(ins) > i and ins[i] is not None else None

    shape = ints(given(0)) if given(0) is not None else list(dims(layer.shape))
    op = name(layer.operation)
    dtype = ctx.out_dtype(0)
    # integer outputs are computed in int64 so that large int64 alpha/beta stay exact
    calc = torch.float64 if dtype.is_floating_point or op != "LINSPACE" else torch.int64
    alpha = given(1).to(calc).reshape(()) if given(1) is not None else torch.tensor(layer.alpha, dtype=calc)
    beta = given(2).to(calc) if given(2) is not None else torch.tensor(layer.beta, dtype=calc)
    if op == "LINSPACE":
        # output[i0..in] = alpha + sum_k beta[k] * i_k
        if beta.dim() == 0:
            if len(shape) != 1:
                raise ctx.unsupported("static LINSPACE with a scalar beta on a rank > 1 output")
            beta = beta.reshape(1)
        y = alpha.clone().expand(shape).clone()
        for k, n in enumerate(shape):
            view = [1] * len(shape)
            view[k] = n
            y = y + beta[k] * torch.arange(n, dtype=calc).reshape(view)
        return [y.to(dtype)]
    # Random fills cannot match an engine value-for-value; draw reproducibly instead.
    gen = torch.Generator().manual_seed(0)
    if op == "RANDOM_UNIFORM":
        y = torch.rand(shape, generator=gen, dtype=torch.float64) * (beta - alpha) + alpha
        return [y.to(dtype)]
    if op == "RANDOM_NORMAL":
        y = torch.randn(shape, generator=gen, dtype=torch.float64) * beta + alpha
        return [y.to(dtype)]
    raise ctx.unsupported(f"FillOperation.{op}")


def _one_hot(ctx: LayerCtx, ins: list) -> list:
    idx, values, depth_t = ins
    depth = int(depth_t.reshape(-1)[0])
    idx = idx.long()
    idx = torch.where(idx < 0, idx + depth, idx)  # ONNX OneHot: negative indices count from the end
    valid = (idx >= 0) & (idx < depth)
    hot = F.one_hot(idx.clamp(0, depth - 1), depth).bool() & valid.unsqueeze(-1)
    off, on = values.reshape(-1)[0], values.reshape(-1)[1]
    y = torch.where(hot, on, off)
    axis = int(ctx.layer.axis) % y.dim()
    return [y.movedim(-1, axis)]


def _reverse_sequence(ctx: LayerCtx, ins: list) -> list:
    x, lens = ins
    b_ax, s_ax = int(ctx.layer.batch_axis), int(ctx.layer.sequence_axis)
    seq = x.shape[s_ax]
    out = []
    for i, n in enumerate(ints(lens)):
        item = x.select(b_ax, i)
        ax = s_ax if s_ax < b_ax else s_ax - 1
        order = torch.cat([torch.arange(n - 1, -1, -1), torch.arange(n, seq)]).long()
        out.append(item.index_select(ax, order))
    return [torch.stack(out, dim=b_ax)]


def _assertion(ctx: LayerCtx, ins: list) -> list:
    if not bool(ins[0].bool().all()):
        raise ctx.fail(f"assertion failed: {ctx.layer.message}")
    return []


LAYERS = {
    "CONSTANT": ("IConstantLayer", _constant),
    "SHAPE": ("IShapeLayer", _shape),
    "SHUFFLE": ("IShuffleLayer", _shuffle),
    "CONCATENATION": ("IConcatenationLayer", _concat),
    "SLICE": ("ISliceLayer", _slice),
    "GATHER": ("IGatherLayer", _gather),
    "SCATTER": ("IScatterLayer", _scatter),
    "PADDING": ("IPaddingLayer", _padding),
    "SQUEEZE": ("ISqueezeLayer", _squeeze),
    "UNSQUEEZE": ("IUnsqueezeLayer", _unsqueeze),
    "FILL": ("IFillLayer", _fill),
    "ONE_HOT": ("IOneHotLayer", _one_hot),
    "REVERSE_SEQUENCE": ("IReverseSequenceLayer", _reverse_sequence),
    "ASSERTION": ("IAssertionLayer", _assertion),
}
