"""Shape ops: view/reshape, permute, squeeze/unsqueeze, expand, cat/stack, split/unbind,
slice/select, index_select/gather, pad, roll, repeat, flip (advanced indexing: :mod:`.indexing`)."""
from __future__ import annotations

import torch

from trtforge import Refusal
from trtforge.conversion import blocks as B
from trtforge.conversion.args import argument, node_argument, value_of

from ._util import converter

aten = torch.ops.aten


def _target_sizes(ctx, requested, infer: bool = True) -> list:
    """A requested shape with every dimension torch knows statically made an int.

    With ``infer`` and a single dynamic dimension left, it becomes -1 so the reshape stays static.
    """
    out = list(requested)
    meta = getattr(ctx.meta(), "shape", None)
    if meta is not None and len(meta) == len(out):
        out = [int(m) if isinstance(m, int) else r for m, r in zip(meta, out)]
    dynamic = [i for i, d in enumerate(out) if ctx.is_tensor(d) or (isinstance(d, int) and d == -1)]
    if infer and len(dynamic) == 1 and all(isinstance(d, int) and d != 0 for i, d in enumerate(out) if i not in dynamic):
        out[dynamic[0]] = -1
    return out


@converter(aten.reshape.default, aten.view.default, aten._unsafe_view.default)
def view(ctx, target, args, kwargs, name):
    """reshape and the views: one shuffle layer (TensorRT has no strides, so a view is a reshape)."""
    return B.reshape(ctx, args[0], _target_sizes(ctx, args[1]))


def _layout_only(node, settings):
    fmt = node.kwargs.get("memory_format")
    return True if fmt in (None, torch.preserve_format, torch.contiguous_format) else Refusal(f"memory_format={fmt}")


@converter(aten.clone.default, validator=_layout_only)
def clone(ctx, target, args, kwargs, name):
    """A copy changes nothing in TensorRT (the core keeps clones only where a PyTorch view needs them)."""
    return ctx.out(ctx.net.add_identity(ctx.to_trt(args[0])), "clone")


@converter(aten.copy.default)
def copy(ctx, target, args, kwargs, name):
    """``x.copy_(src)`` functionalized: ``src`` broadcast to ``x``'s shape in ``x``'s dtype."""
    x, src = ctx.to_trt(args[0]), ctx.to_trt(args[1])
    return B.cast(ctx, B.broadcast_to(ctx, src, x), ctx.torch_dtype(x))


@converter(aten.permute.default)
def permute(ctx, target, args, kwargs, name):
    return B.permute(ctx, args[0], args[1])


@converter(aten.squeeze.dim, aten.squeeze.dims, aten.squeeze.default)
def squeeze(ctx, target, args, kwargs, name):
    dims = argument(target, args, kwargs, "dim", default=None)  # squeeze.default has none
    return B.squeeze(ctx, args[0], None if dims is None else B.as_list(dims))


@converter(aten.unsqueeze.default)
def unsqueeze(ctx, target, args, kwargs, name):
    return B.unsqueeze(ctx, args[0], args[1])


@converter(aten.expand.default)
def expand(ctx, target, args, kwargs, name):
    return B.expand(ctx, args[0], _target_sizes(ctx, args[1], infer=False))


def _non_empty(ctx, tensors):
    """torch.cat skips 1-D empty tensors (legacy behaviour); TensorRT would reject the rank mismatch."""
    return [t for t in tensors if not (len(t.shape) == 1 and t.shape[0] == 0)]


@converter(aten.cat.default)
def cat(ctx, target, args, kwargs, name):
    dtype = ctx.output_dtype()
    tensors = [B.cast(ctx, ctx.to_trt(t), dtype) for t in _non_empty(ctx, args[0])]
    return B.concat(ctx, tensors, argument(target, args, kwargs, "dim"))


@converter(aten.stack.default)
def stack(ctx, target, args, kwargs, name):
    dtype = ctx.output_dtype()
    dim = argument(target, args, kwargs, "dim")
    tensors = [B.cast(ctx, ctx.to_trt(t), dtype) for t in args[0]]
    dim = B.normalize_dim(dim, len(tensors[0].shape) + 1)
    return B.concat(ctx, [B.unsqueeze(ctx, t, dim) for t in tensors], dim)


@converter(aten.split.Tensor, aten.split_with_sizes.default)
def split(ctx, target, args, kwargs, name):
    x, dim = args[0], argument(target, args, kwargs, "dim")
    count = len(value_of(ctx.current_node))
    step = args[1]
    lengths = list(step) if isinstance(step, (list, tuple)) else [step] * count
    outs, start = [], 0
    for i, n in enumerate(lengths):
        end = None if i == count - 1 and target is aten.split.Tensor else start + n
        outs.append(B.slice_dim(ctx, x, dim, start, end))
        start += n
    return outs


@converter(aten.unbind.int)
def unbind(ctx, target, args, kwargs, name):
    """One select per output (export fixes their number, so the dimension is static)."""
    dim = argument(target, args, kwargs, "dim")
    return [B.select(ctx, args[0], dim, i) for i in range(len(value_of(ctx.current_node)))]


def _step_ok(node, settings):
    step = node_argument(node, "step")
    return True if isinstance(step, int) and step > 0 else Refusal(f"slice step {step}")


@converter(aten.slice.Tensor, validator=_step_ok)
def slice_(ctx, target, args, kwargs, name):
    dim, start, end, step = (argument(target, args, kwargs, n) for n in ("dim", "start", "end", "step"))
    known = ctx.meta().shape[dim]  # torch may know the length statically where TensorRT would not
    return B.slice_dim(ctx, args[0], dim, 0 if start is None else start, end, step,
                       length=known if isinstance(known, int) else None)


@converter(aten.select.int)
def select(ctx, target, args, kwargs, name):
    return B.select(ctx, args[0], args[1], args[2])


@converter(aten.index_select.default)
def index_select(ctx, target, args, kwargs, name):
    x, dim = ctx.to_trt(args[0]), B.normalize_dim(args[1], len(args[0].shape))
    idx = ctx.to_trt(args[2].to(torch.int64) if isinstance(args[2], torch.Tensor) else args[2])
    if len(idx.shape) == 0:
        idx = B.reshape(ctx, idx, [1])
    return ctx.out(ctx.net.add_gather(x, idx, dim), "index_select")


@converter(aten.gather.default)
def gather(ctx, target, args, kwargs, name):
    x, dim, index = ctx.to_trt(args[0]), args[1], ctx.to_trt(args[2])
    rank = len(x.shape)
    dim = B.normalize_dim(dim, rank)
    if any(xs != ix for i, (xs, ix) in enumerate(zip(x.shape, index.shape)) if i != dim):
        # torch lets the index be smaller than the input on other dimensions: read only that part
        ix_sizes = B.sizes(ctx, index)
        shape = [B.size(ctx, x, i) if i == dim else ix_sizes[i] for i in range(rank)]
        x = B.slice_nd(ctx, x, [0] * rank, shape, [1] * rank)
    layer = ctx.net.add_gather(x, B.cast(ctx, index, torch.int64), dim)
    layer.mode = ctx.trt.GatherMode.ELEMENT
    return ctx.out(layer, "gather")


def _torch_pad_pairs(rank: int, pads) -> tuple[list, list]:
    """F.pad's (last_lo, last_hi, prev_lo, prev_hi, ...) as per-dimension pre/post lists."""
    pre, post = [0] * rank, [0] * rank
    for k in range(len(pads) // 2):
        pre[rank - 1 - k], post[rank - 1 - k] = pads[2 * k], pads[2 * k + 1]
    return pre, post


_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _pad_ok(node, settings):
    mode = node_argument(node, "mode", default="constant")  # constant_pad_nd has no mode
    if mode not in _PAD_MODES:
        return Refusal(f"pad mode {mode!r}")
    if mode != "constant" and any(not isinstance(p, int) or p < 0 for p in node.args[1]):
        return Refusal(f"negative or dynamic {mode} padding")
    return True


@converter(aten.pad.default, aten.constant_pad_nd.default, validator=_pad_ok)
def pad(ctx, target, args, kwargs, name):
    x = args[0]
    mode = argument(target, args, kwargs, "mode", default="constant")  # constant_pad_nd has no mode
    value = argument(target, args, kwargs, "value")
    pre, post = _torch_pad_pairs(len(x.shape), list(args[1]))
    return B.pad(ctx, x, pre, post, mode=mode, value=float(value or 0))


@converter(aten.roll.default)
def roll(ctx, target, args, kwargs, name):
    """A wrapping slice that starts ``shift`` before the origin."""
    x, shifts, dims = args[0], B.as_list(args[1]), B.as_list(argument(target, args, kwargs, "dims"))
    if not dims:
        flat = B.flatten(ctx, x)
        return B.reshape(ctx, roll(ctx, target, [flat, shifts, [0]], {}, name), B.sizes(ctx, x))
    rank = len(x.shape)
    start = [0] * rank
    for s, d in zip(shifts, dims):
        d = B.normalize_dim(d, rank)
        start[d] = B.dim_arith(ctx, "sub", start[d], s)
    return B.slice_nd(ctx, x, start, B.sizes(ctx, x), [1] * rank, mode="WRAP")


@converter(aten.repeat.default)
def repeat(ctx, target, args, kwargs, name):
    """Tiling is a wrapping slice of the repeated size."""
    reps = list(args[1])
    x = B.to_rank(ctx, args[0], len(reps))
    out = [B.dim_arith(ctx, "mul", s, r) for s, r in zip(B.sizes(ctx, x), reps)]
    if all(r == 1 for r in reps):
        return x
    return B.slice_nd(ctx, x, [0] * len(reps), out, [1] * len(reps), mode="WRAP")


@converter(aten.flip.default)
def flip(ctx, target, args, kwargs, name):
    x = args[0]
    rank = len(x.shape)
    dims = {B.normalize_dim(d, rank) for d in args[1]}
    have = B.sizes(ctx, x)
    start = [B.dim_arith(ctx, "sub", have[i], 1) if i in dims else 0 for i in range(rank)]
    return B.slice_nd(ctx, x, start, have, [-1 if i in dims else 1 for i in range(rank)])
